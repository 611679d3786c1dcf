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
  const rfb = new RFB(document.getElementById("screen"), url,
                      { wsProtocols: ["binary"] });
  rfb.scaleViewport = true;
  rfb.addEventListener("connect", () => {
    status.textContent = `Connected to the VNC console of ${name} on ${info.node}.`;
    document.getElementById("ctrl-alt-del").hidden = false;
  });
  rfb.addEventListener("disconnect", (ev) => {
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
  document.getElementById("ctrl-alt-del").addEventListener("click",
    () => rfb.sendCtrlAltDel());
  window.rfb = rfb;
}

start().catch((err) => showMessage(err.message));
