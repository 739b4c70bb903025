// Renders the server's own OpenAPI document with the bundled Redoc
// (api/redoc.standalone.js, npm package redoc 3.0.1). Telemetry is off; the
// page's Content-Security-Policy would refuse it anyway. Paths are relative
// so that the page also works behind a proxy that adds a path prefix.
import { init } from "./redoc.standalone.js";

init("openapi.json", { disableTelemetry: true }, document.getElementById("redoc"));
