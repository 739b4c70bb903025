// Renders the server's own OpenAPI document with the bundled Redoc
// (api/redoc.standalone.js, npm package redoc 3.0.1). Telemetry is off; the
// page's Content-Security-Policy would refuse it anyway. The page names the
// document's URL (data-spec); Redoc is imported from this script's own
// versioned folder.
import { init } from "./redoc.standalone.js";

const el = document.getElementById("redoc");
init(el.dataset.spec, { disableTelemetry: true }, el);
