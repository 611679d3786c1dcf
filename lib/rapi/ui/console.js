// The VNC console of an instance: noVNC (vendored, version 1.3.0) over
// the websocket /ui/vnc/NAME, which the RAPI relays to the VNC server
// on the instance's primary node after checking the user (write access).
import RFB from "./vendor/novnc-1.3.0/core/rfb.js";
import { api, enc, showMessage } from "./api.js";

const name = new URLSearchParams(location.search).get("instance") || "";
const status = document.getElementById("console-status");
document.getElementById("console-title").textContent = `Console of ${name}`;
document.title = `Console of ${name} — Ganeti`;

async function start() {
  if (!name) {
    status.textContent = "No instance given (console.html?instance=NAME).";
    return;
  }
  let info;
  try {
    info = await api(`/2/instances/${enc(name)}/console`);
  } catch (err) {
    status.textContent = `No console: ${err.message}`;
    return;
  }
  if (!info || !info.port || !info.host) {
    status.textContent = `Instance ${name} has no VNC console` +
      (info && info.message ? `: ${info.message}` : ` (its console is of kind ${info && info.kind}).`);
    return;
  }
  const url = `wss://${location.host}/ui/vnc/${enc(name)}`;
  document.getElementById("ctrl-alt-del").addEventListener("click",
    () => window.rfb && window.rfb.sendCtrlAltDel());
  connect(url, info, 0);
}

// Attempts at opening the console before giving up: a websocket that
// failed before the VNC session started (a network change aborted it)
// is opened again a moment later.
const ATTEMPTS = 3;

function connect(url, info, attempt) {
  let connected = false;
  const rfb = new RFB(document.getElementById("screen"), url,
                      { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => {
    connected = true;
    status.textContent = `Connected to the VNC console of ${name} on ${info.node}.`;
    document.getElementById("ctrl-alt-del").hidden = false;
  });
  rfb.addEventListener("disconnect", (ev) => {
    document.getElementById("ctrl-alt-del").hidden = true;
    if (!connected && !ev.detail.clean && attempt + 1 < ATTEMPTS) {
      status.textContent = "Connecting again…";
      setTimeout(() => connect(url, info, attempt + 1), 1000);
      return;
    }
    status.textContent = ev.detail.clean ? "Disconnected."
      : "The connection to the VNC console failed or was closed.";
  });
  rfb.addEventListener("credentialsrequired", () => {
    const password = window.prompt(`VNC password of ${name}`);
    if (password !== null) rfb.sendCredentials({ password });
  });
  rfb.addEventListener("desktopname", (ev) => {
    status.textContent = `Connected: ${ev.detail.name}`;
  });
  window.rfb = rfb;
}

start().catch((err) => showMessage(err.message));
