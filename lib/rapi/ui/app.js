// The web console's pages: overview, node, instance, jobs, job.  Routing
// on the location hash; every figure comes from a /2/... request.
import { api, query, enc, el, showMessage, clearMessage, FINISHED, fmtTime,
         logLines } from "./api.js";

const main = () => document.getElementById("main");
const POLL_MS = 500;
let generation = 0;  // a page left stops following its job

function link(href, text) { return el("a", { href }, text); }
function nodeLink(name) { return link(`#/node/${enc(name)}`, name); }
function instLink(name) { return link(`#/instance/${enc(name)}`, name); }
function jobLink(id) { return link(`#/job/${enc(id)}`, `job ${id}`); }
function tags(list) { return (list || []).map((t) => el("span", { class: "tag" }, t)); }

function table(id, headers, rows) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, rows.map((cells) =>
      el("tr", {}, cells.map((c) => el("td", {}, c))))));
}

function useBar(total, free, unit) {
  if (typeof total !== "number" || typeof free !== "number" || total <= 0) {
    return "unknown";
  }
  const used = total - free;
  return el("span", {},
    el("progress", { max: total, value: used }),
    ` ${used} / ${total} ${unit} (${Math.round((100 * used) / total)}%)`);
}

// Ganeti 2.1 answers admin_state as a boolean, later versions as "up".
function adminUp(inst) {
  return inst.admin_state === true || inst.admin_state === "up";
}

function instState(inst) {
  if (inst.oper_state) return "running";
  return adminUp(inst) ? "ERROR_down" : "stopped";
}

// The instance list of the overview and node pages: only the fields they
// show, answered by the master without the filled parameters every
// instance carries in /2/instances?bulk=1 (most of that answer's cost).
const LIST_FIELDS = ["name", "admin_state", "oper_state", "pnode", "snodes",
                     "tags"];
const instanceList = () => query("instance", LIST_FIELDS);

// --- overview ----------------------------------------------------------

async function overview() {
  const [info, nodes, instances, jobs] = await Promise.all([
    api("/2/info"), api("/2/nodes?bulk=1"), instanceList(),
    api("/2/jobs?bulk=1")]);
  document.title = `${info.name} — Ganeti`;
  document.getElementById("cluster-name").textContent = info.name;
  const counts = {};
  for (const inst of instances) {
    const state = instState(inst);
    counts[state] = (counts[state] || 0) + 1;
  }
  const running = jobs.filter((j) => !FINISHED.includes(j.status));
  const verify = jobs.filter((j) => (j.summary || []).some(
    (s) => String(s).startsWith("CLUSTER_VERIFY") && !String(s).startsWith("CLUSTER_VERIFY_"))
  ).sort((a, b) => Number(b.id) - Number(a.id))[0];
  const shown = instances.slice(0, 500);
  return [
    el("h1", {}, `Cluster ${info.name}`),
    el("p", {}, `Master ${info.master}, ${nodes.length} nodes, ` +
       `${instances.length} instances, software ${info.software_version}`),
    el("h2", {}, "Nodes"),
    table("nodes", ["Node", "Role", "Memory used", "Disk used", "Instances"],
      nodes.map((n) => [nodeLink(n.name),
        n.offline ? "offline" : n.drained ? "drained"
          : n.name === info.master ? "master"
          : n.master_candidate ? "candidate" : "regular",
        useBar(n.mtotal, n.mfree, "MiB"), useBar(n.dtotal, n.dfree, "MiB"),
        `${n.pinst_cnt ?? ""}`])),
    el("h2", {}, "Instances"),
    el("p", { class: "counts", id: "instance-counts" },
      Object.keys(counts).sort().map((s) =>
        el("span", { class: `state-${s}` }, `${s}: ${counts[s]}`))),
    table("instances", ["Instance", "State", "Primary node", "Tags"],
      shown.map((i) => [instLink(i.name),
        el("span", { class: `state-${instState(i)}` }, instState(i)),
        nodeLink(i.pnode), tags(i.tags)])),
    instances.length > shown.length
      ? el("p", {}, `(${instances.length - shown.length} more not shown)`) : null,
    el("h2", {}, "Running jobs"),
    running.length
      ? table("running-jobs", ["Job", "Status", "Operations"],
          running.map((j) => [jobLink(j.id), j.status, (j.summary || []).join(", ")]))
      : el("p", { id: "running-jobs" }, "No job is queued or running."),
    el("h2", {}, "Last verify"),
    el("p", { id: "last-verify" }, verify
      ? [jobLink(verify.id), ` (cluster verify): ${verify.status}`,
         verify.end_ts ? `, finished ${fmtTime(verify.end_ts)}` : ""]
      : "The cluster keeps no verify result and the job queue holds no " +
        "cluster verify job: run gnt-cluster verify."),
  ];
}

// --- node ----------------------------------------------------------------

async function nodePage(name) {
  const [node, instances] = await Promise.all([
    api(`/2/nodes/${enc(name)}`), instanceList()]);
  const mine = instances.filter((i) => i.pnode === node.name ||
    (i.snodes || []).includes(node.name));
  const rows = Object.keys(node).sort().map((k) => [k,
    typeof node[k] === "object" ? JSON.stringify(node[k]) : String(node[k])]);
  return [
    el("h1", {}, `Node ${node.name}`),
    el("p", {}, "Memory ", useBar(node.mtotal, node.mfree, "MiB"),
       " — disk ", useBar(node.dtotal, node.dfree, "MiB")),
    el("h2", {}, "Instances"),
    table("node-instances", ["Instance", "State", "Role"], mine.map((i) =>
      [instLink(i.name), instState(i), i.pnode === node.name ? "primary" : "secondary"])),
    el("h2", {}, "Fields"),
    table("node-fields", ["Field", "Value"], rows),
  ];
}

// --- instance ----------------------------------------------------------

const ACTIONS = [
  ["startup", "Start", "PUT"], ["shutdown", "Stop", "PUT"],
  ["reboot", "Reboot", "POST"], ["migrate", "Migrate", "PUT"]];

async function instancePage(name) {
  const inst = await api(`/2/instances/${enc(name)}`);
  const params = (obj) => Object.keys(obj || {}).sort().map((k) =>
    [k, typeof obj[k] === "object" ? JSON.stringify(obj[k]) : String(obj[k])]);
  const disks = (inst["disk.sizes"] || []).map((size, idx) => [`disk/${idx}`, `${size} MiB`]);
  const nics = (inst["nic.macs"] || []).map((mac, idx) => [`nic/${idx}`, mac,
    (inst["nic.ips"] || [])[idx] ?? "", (inst["nic.modes"] || [])[idx] ?? "",
    (inst["nic.links"] || [])[idx] ?? ""]);
  const jobBox = el("div", { id: "job" });
  const buttons = ACTIONS.map(([path, label, method]) => {
    const button = el("button", { id: `action-${path}`, type: "button" }, label);
    button.addEventListener("click", () => runAction(inst.name, path, method, jobBox));
    return button;
  });
  return [
    el("h1", {}, `Instance ${inst.name}`),
    el("p", {}, "State: ", el("span", { id: "instance-state",
      class: `state-${instState(inst)}` }, instState(inst)),
       ` (should ${adminUp(inst) ? "run" : "be stopped"}) on `, nodeLink(inst.pnode),
       (inst.snodes || []).length ? [" secondaries ", inst.snodes.map(nodeLink)] : "",
       " — tags: ", tags(inst.tags)),
    el("p", { class: "actions" }, buttons,
       link(`console.html?instance=${enc(inst.name)}`, "Console")),
    jobBox,
    el("h2", {}, "Parameters"),
    table("instance-fields", ["Field", "Value"],
      [["os", inst.os], ["disk_template", inst.disk_template],
       ["network_port", String(inst.network_port ?? "")],
       ["created", fmtTime([inst.ctime])], ["uuid", inst.uuid]]),
    el("h3", {}, "Backend parameters"), table("beparams", ["Name", "Value"], params(inst.beparams)),
    el("h3", {}, "Hypervisor parameters"), table("hvparams", ["Name", "Value"], params(inst.hvparams)),
    el("h2", {}, "Disks"), table("disks", ["Disk", "Size"], disks),
    el("h2", {}, "NICs"), table("nics", ["NIC", "MAC", "IP", "Mode", "Link"], nics),
  ];
}

async function runAction(name, path, method, box) {
  clearMessage();
  let jobId;
  try {
    jobId = await api(`/2/instances/${enc(name)}/${path}`, method, {});
  } catch (err) {
    showMessage(`${path} refused: ${err.message}`);
    return;
  }
  box.replaceChildren();
  await followJob(jobId, box);
  if (location.hash === `#/instance/${enc(name)}`) {
    const state = await api(`/2/instances/${enc(name)}`);
    const span = document.getElementById("instance-state");
    if (span) {
      span.textContent = instState(state);
      span.className = `state-${instState(state)}`;
    }
  }
}

// Show a job and its log in `box`, polling /2/jobs/ID until it ends.
async function followJob(jobId, box) {
  const mine = generation;
  const status = el("span", { id: "job-status" }, "queued");
  const log = el("pre", { class: "log", id: "job-log" });
  box.append(el("h2", {}, jobLink(jobId), " — ", status), log);
  for (;;) {
    const job = await api(`/2/jobs/${enc(jobId)}`);
    status.textContent = job.status;
    status.className = `status-${job.status}`;
    const lines = logLines(job.oplog);
    log.textContent = lines.length ? lines.join("\n") : "(no log messages yet)";
    if (FINISHED.includes(job.status)) {
      if (job.status === "error") {
        const errors = (job.opresult || []).filter((r) => Array.isArray(r))
          .map((r) => JSON.stringify(r));
        if (errors.length) log.textContent += `\n${errors.join("\n")}`;
      }
      return job;
    }
    if (mine !== generation) return job;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// --- jobs ----------------------------------------------------------------

async function jobsPage() {
  const jobs = (await api("/2/jobs?bulk=1"))
    .sort((a, b) => Number(b.id) - Number(a.id)).slice(0, 200);
  return [
    el("h1", {}, "Jobs"),
    table("jobs", ["Job", "Status", "Operations", "Received", "Ended"],
      jobs.map((j) => [jobLink(j.id),
        el("span", { class: `status-${j.status}` }, j.status),
        (j.summary || []).join(", "), fmtTime(j.received_ts), fmtTime(j.end_ts)])),
  ];
}

async function jobPage(id) {
  const box = el("div", { id: "job" });
  followJob(id, box).catch((err) => showMessage(err.message));
  return [el("h1", {}, `Job ${id}`), box];
}

// --- routing -----------------------------------------------------------

async function route() {
  generation += 1;
  const mine = generation;
  clearMessage();
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const arg = parts[1] === undefined ? "" : decodeURIComponent(parts[1]);
  let content;
  try {
    if (parts[0] === "node") content = await nodePage(arg);
    else if (parts[0] === "instance") content = await instancePage(arg);
    else if (parts[0] === "jobs") content = await jobsPage();
    else if (parts[0] === "job") content = await jobPage(arg);
    else content = await overview();
  } catch (err) {
    content = [el("p", { id: "load-error" }, `Cannot load this page: ${err.message}`)];
  }
  if (mine !== generation) return;  // another page was asked for meanwhile
  main().replaceChildren(...content.filter((c) => c !== null));
}

window.addEventListener("hashchange", route);
route();
