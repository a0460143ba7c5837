#!/usr/bin/env python3
"""Write the reference values that tests/suite/backbone.rs checks the Rust port of EfficientNet-Lite0
against, computed once with onnxruntime on the ONNX graph of ../shared/bench/pretrained (build_onnx.py,
the same .pth folded the same way).

    python scripts/pretrained/reference_values.py ONNX_FILE tests/fixtures/pretrained

Inputs are the 224 x 224 PNGs in that folder (decoded exactly by both sides), scaled (p - 127) / 128.
Writes reference.json: for each image its top-1 ImageNet class; for chelsea.png the GAP of the 1280-channel head and, layer by layer (stem, every block, head), each output's shape, mean, mean square and
eight values at fixed flat indices.
"""
import json, os, sys
import numpy as np, onnx, onnxruntime as ort
from PIL import Image

onnx_path, folder = sys.argv[1], sys.argv[2]
m = onnx.load(onnx_path)
# Layer outputs: the stem's ReLU6, each block's last node (project conv, or the residual add), the head.
nodes = m.graph.node
clips = [n for n in nodes if n.op_type == 'Clip']
stem = clips[0].output[0]
# A block ends at its project conv (the one conv not followed by a ReLU6), or at the residual add after it.
project_outs = []
for i, n in enumerate(nodes):
    if n.op_type == 'Conv' and (i + 1 >= len(nodes) or nodes[i + 1].op_type != 'Clip'):
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        project_outs.append(nxt.output[0] if nxt is not None and nxt.op_type == 'Add' and n.output[0] in nxt.input else n.output[0])
layers = [('stem', stem)] + [(f'block{j}', o) for j, o in enumerate(project_outs)] + [('head', 'features')]
assert len(project_outs) == 16, len(project_outs)
for _, o in layers[:-1]:
    m.graph.output.extend([onnx.helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None)])
sess = ort.InferenceSession(m.SerializeToString(), providers=['CPUExecutionProvider'])
names = [o for _, o in layers] + ['logits']
out = {'scaling': '(p - 127) / 128', 'images': {}, 'layers': []}
for f in sorted(os.listdir(folder)):
    if not f.endswith('.png'):
        continue
    x = (np.asarray(Image.open(os.path.join(folder, f)).convert('RGB'), np.float32) - 127.0) / 128.0
    r = dict(zip(names, sess.run(names, {'input': x.transpose(2, 0, 1)[None]})))
    out['images'][f] = {'top1': int(r['logits'][0].argmax())}
    if f == 'chelsea.png':
        out['images'][f]['pooled'] = [float(np.float32(v)) for v in r['features'][0].mean((1, 2))]
        for (label, o) in layers:
            a = r[o][0].astype(np.float64)
            idx = [int(i) for i in np.linspace(0, a.size - 1, 8)]
            out['layers'].append({'name': label, 'shape': list(a.shape), 'mean': a.mean(),
                                  'mean_square': (a * a).mean(), 'at': idx, 'values': [float(a.flat[i]) for i in idx]})
with open(os.path.join(folder, 'reference.json'), 'w') as fh:
    json.dump(out, fh)
print({f: v['top1'] for f, v in out['images'].items()})
