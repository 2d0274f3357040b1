/* The "Try it" page: draw a digit, prepare it as MNIST prepared its digits, and run a course
 * model's forward pass on it, here in the browser.
 *
 * Why a forward pass written by hand and not onnxruntime-web: see the docstring of
 * mnist_course/pipeline/browser_export.py (13 MB of WebAssembly in every published site against a few
 * kilobytes here; the page needs every layer's output; the operations are few). Each model is a
 * JSON program exported from its stored weights: a list of steps (conv, batch_norm, relu,
 * max_pool, global_avg_pool, flatten, log_softmax, softmax) with their output shapes.
 *
 * Test hooks: window.classifyDigit(pixels, modelId) resolves to the ten probabilities of that
 * model for 784 pixels in [0, 1] (row-major, MNIST's scale, before normalisation);
 * window.mnistPreprocess(ink, width, height) is the page's preparation of a drawing;
 * window.tryItState() is what the page shows now (the drawing's ink, the model's input).
 */
(function () {
  "use strict";

  var root = document.getElementById("mc-try-it");
  var SIZE = root ? Number(root.dataset.size) : 28;
  var BOX = root ? Number(root.dataset.box) : 20;

  /* ------------------------------------------------------------------ the programs */

  function floats(base64) {
    // little-endian float32, as the exporter wrote them
    var text = atob(base64), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    var view = new DataView(bytes.buffer), out = new Float64Array(bytes.length / 4);
    for (var j = 0; j < out.length; j++) out[j] = view.getFloat32(4 * j, true);
    return out;
  }

  function decode(program) {
    program.steps.forEach(function (step) {
      ["weight", "bias", "mean", "var"].forEach(function (key) {
        if (typeof step[key] === "string") step[key] = floats(step[key]);
      });
    });
    return program;
  }

  var programs = {};  // model id -> Promise of its decoded program

  function sourceOf(modelId) {
    var select = document.getElementById("mc-try-model");
    var option = select && Array.prototype.find.call(select.options, function (o) {
      return o.value === modelId;
    });
    return option ? option.dataset.src : "models/" + encodeURIComponent(modelId) + ".json";
  }

  function loadProgram(modelId) {
    if (!programs[modelId]) {
      programs[modelId] = fetch(sourceOf(modelId)).then(function (response) {
        if (!response.ok) throw new Error("no exported model " + modelId);
        return response.json();
      }).then(function (program) {
        if (!program.runnable) throw new Error(modelId + ": " + program.reason);
        return decode(program);
      });
    }
    return programs[modelId];
  }

  /* ------------------------------------------------------------------ the forward pass */

  function conv(x, shapeIn, step) {
    var C = shapeIn[0], H = shapeIn[1], W = shapeIn[2];
    var O = step.shape[0], OH = step.shape[1], OW = step.shape[2];
    var kh = step.kernel[0], kw = step.kernel[1], groups = step.groups;
    var cg = C / groups, og = O / groups;
    var out = new Float64Array(O * OH * OW), w = step.weight;
    for (var o = 0; o < O; o++) {
      var first = Math.floor(o / og) * cg;
      for (var oy = 0; oy < OH; oy++) {
        for (var ox = 0; ox < OW; ox++) {
          var sum = step.bias ? step.bias[o] : 0;
          for (var ci = 0; ci < cg; ci++) {
            var c = first + ci;
            for (var ky = 0; ky < kh; ky++) {
              var iy = oy * step.stride[0] - step.padding[0] + ky * step.dilation[0];
              if (iy < 0 || iy >= H) continue;
              for (var kx = 0; kx < kw; kx++) {
                var ix = ox * step.stride[1] - step.padding[1] + kx * step.dilation[1];
                if (ix < 0 || ix >= W) continue;
                sum += w[((o * cg + ci) * kh + ky) * kw + kx] * x[(c * H + iy) * W + ix];
              }
            }
          }
          out[(o * OH + oy) * OW + ox] = sum;
        }
      }
    }
    return out;
  }

  function batchNorm(x, shapeIn, step) {
    var plane = x.length / shapeIn[0], out = new Float64Array(x.length);
    for (var c = 0; c < shapeIn[0]; c++) {
      var scale = step.weight[c] / Math.sqrt(step["var"][c] + step.eps);
      for (var i = c * plane; i < (c + 1) * plane; i++) {
        out[i] = (x[i] - step.mean[c]) * scale + step.bias[c];
      }
    }
    return out;
  }

  function maxPool(x, shapeIn, step) {
    var C = shapeIn[0], H = shapeIn[1], W = shapeIn[2], OH = step.shape[1], OW = step.shape[2];
    var out = new Float64Array(C * OH * OW);
    for (var c = 0; c < C; c++) {
      for (var oy = 0; oy < OH; oy++) {
        for (var ox = 0; ox < OW; ox++) {
          var best = -Infinity;
          for (var ky = 0; ky < step.kernel[0]; ky++) {
            var iy = oy * step.stride[0] - step.padding[0] + ky * step.dilation[0];
            if (iy < 0 || iy >= H) continue;
            for (var kx = 0; kx < step.kernel[1]; kx++) {
              var ix = ox * step.stride[1] - step.padding[1] + kx * step.dilation[1];
              if (ix >= 0 && ix < W) best = Math.max(best, x[(c * H + iy) * W + ix]);
            }
          }
          out[(c * OH + oy) * OW + ox] = best;
        }
      }
    }
    return out;
  }

  function globalAverage(x, shapeIn) {
    var plane = shapeIn[1] * shapeIn[2], out = new Float64Array(shapeIn[0]);
    for (var c = 0; c < shapeIn[0]; c++) {
      var sum = 0;
      for (var i = c * plane; i < (c + 1) * plane; i++) sum += x[i];
      out[c] = sum / plane;
    }
    return out;
  }

  function softmax(scores) {
    var top = Math.max.apply(null, scores), total = 0, out = new Float64Array(scores.length);
    for (var i = 0; i < scores.length; i++) { out[i] = Math.exp(scores[i] - top); total += out[i]; }
    for (var j = 0; j < out.length; j++) out[j] /= total;
    return out;
  }

  var RUN = {
    conv: conv,
    batch_norm: batchNorm,
    relu: function (x) { return x.map(function (v) { return v > 0 ? v : 0; }); },
    max_pool: maxPool,
    global_avg_pool: globalAverage,
    flatten: function (x) { return x; },
    log_softmax: function (x) { return softmax(x).map(Math.log); },
    softmax: softmax
  };

  // pixels: 784 numbers in [0, 1]; every step's output, and the ten probabilities
  function forward(program, pixels) {
    var x = new Float64Array(pixels.length), shape = [1, SIZE, SIZE], outputs = [];
    for (var i = 0; i < pixels.length; i++) x[i] = (pixels[i] - program.mean) / program.std;
    var scores = null;
    program.steps.forEach(function (step) {
      if (step.op === "log_softmax" || step.op === "softmax") scores = x;
      x = RUN[step.op](x, shape, step);
      shape = step.shape.length === 3 ? step.shape : [step.shape[0], 1, 1];
      outputs.push(x);
    });
    // a softmax of the scores before the model's own (log-)softmax: the same probabilities
    return { outputs: outputs, probabilities: softmax(scores || x) };
  }

  window.classifyDigit = function (pixels, modelId) {
    return loadProgram(modelId).then(function (program) {
      return Array.from(forward(program, pixels).probabilities);
    });
  };

  /* ------------------------------------------------------------------ MNIST's preparation */

  // The source interval of target pixel t when n source pixels become m: [t n/m, (t+1) n/m).
  function resampleAxis(values, rows, cols, m, alongRows) {
    var n = alongRows ? rows : cols, outRows = alongRows ? m : rows, outCols = alongRows ? cols : m;
    var out = new Float64Array(outRows * outCols), factor = n / m;
    for (var t = 0; t < m; t++) {
      var low = t * factor, high = (t + 1) * factor;
      for (var s = Math.floor(low); s < Math.min(n, Math.ceil(high)); s++) {
        var weight = (Math.min(high, s + 1) - Math.max(low, s)) / factor;
        if (weight <= 0) continue;
        for (var k = 0; k < (alongRows ? cols : rows); k++) {
          if (alongRows) out[t * outCols + k] += weight * values[s * cols + k];
          else out[k * outCols + t] += weight * values[k * cols + s];
        }
      }
    }
    return out;
  }

  function roundHalfUp(v) { return Math.floor(v + 0.5); }

  // ink: width*height numbers in [0, 1] (row-major); 784 pixels in [0, 1], or null if empty
  function mnistPreprocess(ink, width, height) {
    var top = height, bottom = -1, left = width, right = -1;
    for (var y = 0; y < height; y++) {
      for (var x = 0; x < width; x++) {
        if (ink[y * width + x] > 0) {
          top = Math.min(top, y); bottom = Math.max(bottom, y);
          left = Math.min(left, x); right = Math.max(right, x);
        }
      }
    }
    if (bottom < 0) return null;
    var rows = bottom - top + 1, cols = right - left + 1, crop = new Float64Array(rows * cols);
    for (var r = 0; r < rows; r++) {
      for (var c = 0; c < cols; c++) crop[r * cols + c] = ink[(top + r) * width + left + c];
    }
    // the longer side becomes BOX pixels; the shorter keeps the digit's proportions
    var scale = BOX / Math.max(rows, cols);
    var outRows = Math.max(1, roundHalfUp(rows * scale)), outCols = Math.max(1, roundHalfUp(cols * scale));
    var small = resampleAxis(resampleAxis(crop, rows, cols, outCols, false), rows, outCols, outRows, true);
    // centred in the SIZE square, then moved so that its centre of mass is the middle
    var mass = 0, cy = 0, cx = 0;
    for (var i = 0; i < outRows; i++) {
      for (var j = 0; j < outCols; j++) {
        var v = small[i * outCols + j]; mass += v; cy += v * i; cx += v * j;
      }
    }
    var middle = (SIZE - 1) / 2;
    var offsetY = roundHalfUp(middle - cy / mass), offsetX = roundHalfUp(middle - cx / mass);
    // the whole digit stays inside the image
    offsetY = Math.min(Math.max(offsetY, 0), SIZE - outRows);
    offsetX = Math.min(Math.max(offsetX, 0), SIZE - outCols);
    var image = new Array(SIZE * SIZE).fill(0);
    for (var a = 0; a < outRows; a++) {
      for (var b = 0; b < outCols; b++) {
        image[(a + offsetY) * SIZE + b + offsetX] = Math.min(1, small[a * outCols + b]);
      }
    }
    return image;
  }

  window.mnistPreprocess = mnistPreprocess;

  if (!root) return;

  /* ------------------------------------------------------------------ the page */

  var draw = document.getElementById("mc-try-draw");
  var input = document.getElementById("mc-try-input");
  var select = document.getElementById("mc-try-model");
  var pen = draw.getContext("2d", { willReadFrequently: true });
  var shown = { pixels: null, result: null, outline: null };
  // MNIST's strokes are about an eighth of the digit's height; a digit drawn over most of the
  // canvas gets about that once it is scaled into the box
  var strokeWidth = draw.width / 11;

  function ink() {
    var data = pen.getImageData(0, 0, draw.width, draw.height).data;
    var out = new Array(draw.width * draw.height);
    for (var i = 0; i < out.length; i++) out[i] = data[4 * i + 3] / 255;
    return out;
  }

  window.tryItState = function () {
    return { ink: ink(), width: draw.width, height: draw.height, input: shown.pixels,
             model: select.value };
  };

  var last = null;
  function point(event) {
    var box = draw.getBoundingClientRect();
    return [(event.clientX - box.left) * draw.width / box.width,
            (event.clientY - box.top) * draw.height / box.height];
  }
  function line(from, to) {
    pen.strokeStyle = "#000"; pen.lineWidth = strokeWidth; pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.beginPath(); pen.moveTo(from[0], from[1]); pen.lineTo(to[0], to[1]); pen.stroke();
  }
  draw.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    draw.setPointerCapture(event.pointerId);
    last = point(event);
    line(last, last);
    schedule();
  });
  draw.addEventListener("pointermove", function (event) {
    if (!last) return;
    event.preventDefault();
    var next = point(event);
    line(last, next);
    last = next;
    schedule();
  });
  ["pointerup", "pointercancel"].forEach(function (name) {
    draw.addEventListener(name, function () { last = null; schedule(); });
  });
  document.getElementById("mc-try-clear").addEventListener("click", function () {
    pen.clearRect(0, 0, draw.width, draw.height);
    schedule();
  });
  select.addEventListener("change", function () { shown.outline = null; schedule(); });

  var pending = false;
  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; update(); });
  }

  function update() {
    shown.pixels = mnistPreprocess(ink(), draw.width, draw.height);
    var modelId = select.value;
    if (!shown.pixels) {
      shown.result = null;
      render(null);
      return;
    }
    loadProgram(modelId).then(function (program) {
      if (select.value !== modelId) return;
      shown.result = forward(program, shown.pixels);
      render(program);
    }).catch(function (error) {
      document.getElementById("mc-try-verdict").textContent = String(error.message || error);
    });
  }

  // the input on ``target`` (the big picture when none), outlined when the cell pointed at is
  // in ``layer`` (any layer for the big picture)
  function drawInput(target, layer) {
    target = target || input;
    var g = target.getContext("2d"), cell = target.width / SIZE;
    g.fillStyle = "#000"; g.fillRect(0, 0, target.width, target.height);
    if (shown.pixels) {
      for (var i = 0; i < SIZE * SIZE; i++) {
        var level = Math.round(255 * shown.pixels[i]);
        g.fillStyle = "rgb(" + level + "," + level + "," + level + ")";
        g.fillRect((i % SIZE) * cell, Math.floor(i / SIZE) * cell, cell, cell);
      }
    }
    var o = shown.outline;
    if (o && (layer === undefined || o.layer === layer)) {
      var x0 = Math.max(0, o.left), y0 = Math.max(0, o.top);
      var x1 = Math.min(SIZE, o.right + 1), y1 = Math.min(SIZE, o.bottom + 1);
      var thick = Math.max(1, Math.round(target.width / 90));
      g.lineWidth = thick; g.strokeStyle = "#ff9800";
      g.strokeRect(x0 * cell + thick / 2, y0 * cell + thick / 2, (x1 - x0) * cell - thick,
                   (y1 - y0) * cell - thick);
    }
  }

  // one decimal; never "100 %" or "0 %" for a probability that is neither
  function percent(p) {
    if (p >= 0.9995 && p < 1) return "> 99.9 %";
    if (p < 0.0005 && p > 0) return "< 0.1 %";
    return (100 * p).toFixed(1) + " %";
  }

  function render(program) {
    drawInput();
    var bars = document.getElementById("mc-try-probabilities");
    var gap = document.getElementById("mc-try-gap");
    var layers = document.getElementById("mc-try-layers");
    var verdict = document.getElementById("mc-try-verdict");
    bars.textContent = ""; gap.textContent = ""; layers.textContent = "";
    if (!shown.result) {
      verdict.textContent = "Draw a digit to start.";
      return;
    }
    var p = shown.result.probabilities, best = 0;
    for (var d = 1; d < 10; d++) if (p[d] > p[best]) best = d;
    verdict.textContent = "It reads " + best + ", with probability " + percent(p[best]) + ".";
    for (var k = 0; k < 10; k++) {
      var row = document.createElement("div");
      row.className = "mc-try-bar" + (k === best ? " mc-try-best" : "");
      var label = document.createElement("span"); label.textContent = String(k);
      var track = document.createElement("span"); track.className = "mc-try-track";
      var fill = document.createElement("span"); fill.className = "mc-try-fill";
      fill.style.width = (100 * p[k]).toFixed(1) + "%";
      track.appendChild(fill);
      var value = document.createElement("span"); value.textContent = percent(p[k]);
      row.append(label, track, value);
      bars.appendChild(row);
    }
    drawLayers(program, layers, gap);
  }

  var POINTWISE = { batch_norm: "batch norm", relu: "ReLU" };
  var SPATIAL = { conv: true, max_pool: true, global_avg_pool: true };

  // one row per convolution: its output after the per-pixel steps that follow it
  function convolutionMaps(program) {
    var maps = [], spatial = -1;
    program.steps.forEach(function (step, index) {
      if (SPATIAL[step.op]) spatial++;
      if (step.op === "conv") {
        maps.push({ step: step, index: index, output: index, spatial: spatial, after: [] });
      } else if (POINTWISE[step.op] && maps.length && maps[maps.length - 1].output === index - 1) {
        maps[maps.length - 1].output = index;
        maps[maps.length - 1].after.push(POINTWISE[step.op]);
      }
    });
    return maps;
  }

  function colour(v, scale) {
    var t = scale > 0 ? Math.min(1, Math.abs(v) / scale) : 0;
    var to = v >= 0 ? [48, 63, 159] : [230, 120, 0];  // indigo above zero, orange below
    return [255, 255, 255].map(function (c, i) { return Math.round(c + (to[i] - c) * t); });
  }

  function drawLayers(program, layers, gap) {
    var fields = JSON.parse(select.selectedOptions[0].dataset.fields || "null");
    var outputs = shown.result.outputs;
    convolutionMaps(program).forEach(function (map) {
      var values = outputs[map.output], shape = map.step.shape;
      var channels = shape[0], h = shape[1], w = shape[2], plane = h * w, scale = 0;
      for (var i = 0; i < values.length; i++) scale = Math.max(scale, Math.abs(values[i]));
      var field = fields ? fields[map.spatial] : null;
      var section = document.createElement("div");
      section.className = "mc-try-layer";
      var title = document.createElement("p");
      title.className = "mc-try-label";
      title.textContent = (map.step.name || "convolution") + ": " + map.step.kernel[0] + "x" +
        map.step.kernel[1] + " convolution, " + channels + " channels of " + h + "x" + w +
        (map.after.length ? ", after " + map.after.join(" and ") : "") +
        (field ? "; receptive field " + field.rf + " pixels" : "");
      var grid = document.createElement("div");
      grid.className = "mc-try-maps";
      // the input beside the maps, so that the outline shows where the finger is (on a phone
      // the big picture is screens away)
      var beside = document.createElement("canvas");
      beside.width = beside.height = 3 * SIZE;
      beside.className = "mc-try-beside";
      beside.setAttribute("aria-label", "The input, with the receptive field of the cell pointed at");
      if (field) grid.appendChild(beside);
      var cellPx = Math.max(3, Math.min(24, Math.floor(72 / Math.max(h, w))));
      for (var c = 0; c < channels; c++) {
        var canvas = document.createElement("canvas");
        canvas.width = w; canvas.height = h;
        canvas.style.width = w * cellPx + "px"; canvas.style.height = h * cellPx + "px";
        canvas.className = "mc-try-map";
        canvas.setAttribute("aria-label", title.textContent + ", channel " + c);
        var g = canvas.getContext("2d"), image = g.createImageData(w, h);
        for (var j = 0; j < plane; j++) {
          var rgb = colour(values[c * plane + j], scale);
          image.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * j);
        }
        g.putImageData(image, 0, 0);
        var holder = document.createElement("span");
        holder.className = "mc-try-holder";
        holder.appendChild(canvas);
        if (field) watchCells(canvas, beside, map, c, field, cellPx);
        grid.appendChild(holder);
      }
      if (field) drawInput(beside, map.index);
      section.append(title, grid);
      layers.appendChild(section);
    });
    drawGap(program, outputs, gap);
  }

  function drawGap(program, outputs, gap) {
    var index = program.steps.findIndex(function (s) { return s.op === "global_avg_pool"; });
    if (index < 0) {
      gap.textContent = "This model has no global average pooling.";
      return;
    }
    var values = outputs[index], list = document.createElement("ol");
    list.start = 0;
    values.forEach(function (v) {
      var item = document.createElement("li"); item.textContent = v.toFixed(3);
      list.appendChild(item);
    });
    gap.appendChild(list);
  }

  // the cell pointed at, marked on its map
  var marker = document.createElement("span");
  marker.className = "mc-try-cell";

  function watchCells(canvas, beside, map, channel, field, cellPx) {
    var h = map.step.shape[1], w = map.step.shape[2], name = map.step.name || "convolution";
    function show(event) {
      var box = canvas.getBoundingClientRect();
      var row = Math.min(h - 1, Math.max(0, Math.floor((event.clientY - box.top) * h / box.height)));
      var col = Math.min(w - 1, Math.max(0, Math.floor((event.clientX - box.left) * w / box.width)));
      var half = (field.rf - 1) / 2;
      var o = { top: Math.round(field.start + row * field.jump - half),
                left: Math.round(field.start + col * field.jump - half) };
      o.bottom = o.top + field.rf - 1; o.right = o.left + field.rf - 1; o.layer = map.index;
      shown.outline = o;
      marker.style.left = canvas.clientLeft + col * cellPx + "px";
      marker.style.top = canvas.clientTop + row * cellPx + "px";
      marker.style.width = marker.style.height = cellPx + "px";
      canvas.parentNode.appendChild(marker);
      drawInput();
      drawInput(beside, map.index);
      var inside = o.top >= 0 && o.left >= 0 && o.bottom < SIZE && o.right < SIZE;
      document.getElementById("mc-try-field").textContent =
        name + ", channel " + channel + ", row " + row + ", column " + col + " sees input rows " +
        Math.max(0, o.top) + " to " + Math.min(SIZE - 1, o.bottom) + " and columns " +
        Math.max(0, o.left) + " to " + Math.min(SIZE - 1, o.right) + ": a window of " +
        field.rf + " x " + field.rf + " pixels, as the receptive-field table says" +
        (inside ? "." : "; the part outside the picture is padding.");
    }
    canvas.addEventListener("pointermove", show);
    canvas.addEventListener("pointerdown", show);
  }

  render(null);
})();
