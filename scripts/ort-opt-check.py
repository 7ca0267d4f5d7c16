#!/usr/bin/env python3
"""ONNX Runtime with graph optimisations on vs off on one QDQ model, 50 LFW images (PIL crop/resize:
only the two runs are compared). Usage: scripts/ort-opt-check.py MODEL.onnx [LFW_DIR]; needs pillow.
As an AVX2-only CPU: qemu-x86_64 -cpu Haswell "$(python3 -c "import os,sys;print(os.path.realpath(sys.executable))")" scripts/ort-opt-check.py ..."""
import sys, glob, numpy as np, onnxruntime as ort
from PIL import Image
files = sorted(glob.glob((sys.argv[2] if len(sys.argv) > 2 else '../shared/data/lfw/lfw-deepfunneled') + '/*/*.jpg'))[::260][:50]
xs = []
for f in files:
    im = Image.open(f).convert('L').crop((65, 65, 185, 185)).resize((64, 64), Image.BILINEAR)
    xs.append((np.asarray(im, dtype=np.float32) - 128) / 128)
x = np.stack(xs)[:, None]
outs = {}
for lvl, name in [(ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "off"), (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "on")]:
    so = ort.SessionOptions(); so.graph_optimization_level = lvl; so.intra_op_num_threads = 1
    s = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
    outs[name] = np.concatenate([s.run(None, {s.get_inputs()[0].name: x[i:i+1]})[0] for i in range(len(x))]) * 128
a, b = outs["on"], outs["off"]
cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print(f"{len(x)} LFW images: on vs off max {np.abs(a-b).max():.0f} LSB, worst cosine {cos.min():.4f}")
