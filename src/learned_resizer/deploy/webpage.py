"""The page served at ``GET /``: one self-contained HTML file (no external scripts, styles or fonts).

A person drops or chooses an image; the page posts it to ``/v1/compare`` and shows the resizer's
input, the bilinear and the learned image and their amplified difference, with the predictions
made from each resized image. For a segmentation checkpoint (``/healthz`` names the task) it
posts to ``/v1/segment`` instead and overlays the returned mask, one colour per class, on the
image at its own size. ``<body data-state>`` is ``idle``, ``busy``, ``done`` or ``error``.
"""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>learned-resizer: bilinear vs learned</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 70rem; }
  h1 { font-size: 1.3rem; margin-bottom: .2rem; }
  p.lead { margin-top: 0; color: #555; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 1.2rem; text-align: center; cursor: pointer; }
  #drop.over { background: #eef5ff; border-color: #3a7bd5; }
  label.token { display: block; margin: .8rem 0; font-size: .9rem; }
  #status { min-height: 1.4em; margin: .6rem 0; }
  body[data-state="error"] #status { color: #b00020; font-weight: 600; }
  .grid { display: grid; grid-template-columns: repeat(4, 1fr); gap: .8rem; }
  figure { margin: 0; }
  figure img { width: 100%; image-rendering: pixelated; background: #eee; min-height: 4rem; }
  figcaption { font-size: .85rem; color: #444; }
  .predictions { display: grid; grid-template-columns: repeat(2, 1fr); gap: 1.2rem; margin-top: 1rem; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  td { padding: .15rem .4rem; border-bottom: 1px solid #eee; }
  td.bar span { display: inline-block; height: .7rem; background: #3a7bd5; }
  #overlay { max-width: 100%; image-rendering: pixelated; }
  body.segmentation .grid, body.segmentation .predictions { display: none; }
</style>
</head>
<body data-state="idle">
<h1>Bilinear vs learned resizing</h1>
<p class="lead">The learned resizer is trained with the model, so its images are made for the
model, not for people: they boost detail and may leave the displayable range.</p>
<div id="drop" tabindex="0">Drop an image here, or <input type="file" id="file" accept="image/*"></div>
<label class="token">Bearer token (only if the server asks for one):
  <input type="password" id="token" autocomplete="off"></label>
<div id="status">Choose an image.</div>
<div class="grid">
  <figure><img id="img-original" alt="original"><figcaption>original (the resizer's input)</figcaption></figure>
  <figure><img id="img-bilinear" alt="bilinear"><figcaption>bilinear</figcaption></figure>
  <figure><img id="img-learned" alt="learned"><figcaption id="cap-learned">learned</figcaption></figure>
  <figure><img id="img-difference" alt="difference"><figcaption id="cap-difference">difference</figcaption></figure>
</div>
<div id="segment" hidden><canvas id="overlay"></canvas><table id="class-pixels"></table></div>
<div class="predictions">
  <div><h2>Predictions from the bilinear image</h2><table id="pred-bilinear"></table></div>
  <div><h2>Predictions from the learned image</h2><table id="pred-learned"></table></div>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
}

function fillPredictions(table, predictions) {
  table.replaceChildren();
  for (const p of predictions) {
    const row = table.insertRow();
    row.insertCell().textContent = p.label;
    row.insertCell().textContent = (100 * p.probability).toFixed(1) + " %";
    const bar = document.createElement("span");
    bar.style.width = Math.round(120 * p.probability) + "px";
    const cell = row.insertCell();
    cell.className = "bar";
    cell.append(bar);
  }
}

let task = "classification";
fetch("healthz").then((r) => r.json()).then((health) => {
  task = health.task || task;
  if (task === "segmentation") {
    document.body.classList.add("segmentation");
    $("segment").hidden = false;
    document.querySelector("h1").textContent = "Segmentation through a learned resizer";
  }
}).catch(() => {});

function classColour(index) {  // well-separated hues, one per class id
  const hue = (index * 137.508) % 360;
  return `hsl(${hue}, 85%, 50%)`;
}

async function segment(file, headers) {
  const form = new FormData();
  form.append("file", file, file.name);
  const response = await fetch("v1/segment", { method: "POST", body: form, headers });
  if (!response.ok) {
    const body = await response.json();
    setState("error", "Error " + response.status + ": " + (body.detail || response.statusText));
    return;
  }
  const [picture, mask] = await Promise.all([
    createImageBitmap(file), response.blob().then((blob) => createImageBitmap(blob))]);
  const canvas = $("overlay");
  canvas.width = mask.width;
  canvas.height = mask.height;
  const context = canvas.getContext("2d");
  context.drawImage(mask, 0, 0);
  const ids = context.getImageData(0, 0, mask.width, mask.height);
  const colours = document.createElement("canvas").getContext("2d");
  const tint = context.createImageData(mask.width, mask.height);
  const counts = new Map();
  for (let i = 0; i < ids.data.length; i += 4) {
    const id = ids.data[i];
    counts.set(id, (counts.get(id) || 0) + 1);
    colours.fillStyle = classColour(id);
    const hex = colours.fillStyle;  // normalised to #rrggbb
    tint.data[i] = parseInt(hex.slice(1, 3), 16);
    tint.data[i + 1] = parseInt(hex.slice(3, 5), 16);
    tint.data[i + 2] = parseInt(hex.slice(5, 7), 16);
    tint.data[i + 3] = 110;
  }
  context.drawImage(picture, 0, 0, mask.width, mask.height);
  const layer = document.createElement("canvas");
  layer.width = mask.width;
  layer.height = mask.height;
  layer.getContext("2d").putImageData(tint, 0, 0);
  context.drawImage(layer, 0, 0);
  const table = $("class-pixels");
  table.replaceChildren();
  for (const [id, count] of [...counts.entries()].sort((a, b) => a[0] - b[0])) {
    const row = table.insertRow();
    const swatch = row.insertCell();
    swatch.style.background = classColour(id);
    swatch.style.width = "1rem";
    row.insertCell().textContent = "class " + id;
    row.insertCell().textContent = count + " px";
  }
  setState("done", file.name + ": mask of " + mask.width + "x" + mask.height + " px, the image's own size.");
}

async function send(file) {
  setState("busy", "Resizing " + file.name + " ...");
  const form = new FormData();
  form.append("file", file, file.name);
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers["Authorization"] = "Bearer " + token;
  if (task === "segmentation") {
    try {
      await segment(file, headers);
    } catch (error) {
      setState("error", "Request failed: " + error);
    }
    return;
  }
  let response, body;
  try {
    response = await fetch("v1/compare", { method: "POST", body: form, headers });
    body = await response.json();
  } catch (error) {
    setState("error", "Request failed: " + error);
    return;
  }
  if (!response.ok) {
    setState("error", "Error " + response.status + ": " + (body.detail || response.statusText));
    return;
  }
  for (const key of ["original", "bilinear", "learned", "difference"]) $("img-" + key).src = body.images[key];
  $("cap-learned").textContent = "learned (" + body.clipped_pixels + " pixels clipped for display)";
  $("cap-difference").textContent = "|learned - bilinear| x " + body.difference_gain + " (black: no change)";
  fillPredictions($("pred-bilinear"), body.bilinear);
  fillPredictions($("pred-learned"), body.learned);
  const [h, w] = body.model_input_size;
  const [dh, dw] = body.decoded_size;
  setState("done", file.name + ": decoded at " + dw + "x" + dh + " px, resized to " + w + "x" + h +
           " in " + body.timings_ms.total.toFixed(1) + " ms on the server.");
}

$("file").addEventListener("change", () => {
  const input = $("file");
  if (!input.files.length) return;
  const file = input.files[0];
  input.value = "";  // so that choosing the same file again (say, after fixing the token) sends it again
  send(file);
});
const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
});
</script>
</body>
</html>
"""
