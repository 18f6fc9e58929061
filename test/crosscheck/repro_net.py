"""The public reproduction's network (karpathy/lecun1989-repro, repro.py), verbatim but for its comments, size
asserts and MAC/activation bookkeeping, shared by the cross-check scripts in this folder. Documentation only:
npm test never runs these scripts; they need Debian's python3-torch (1.13) and numpy.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        winit = lambda fan_in, *shape: (torch.rand(*shape) - 0.5) * 2 * 2.4 / fan_in**0.5
        self.H1w = nn.Parameter(winit(5 * 5 * 1, 12, 1, 5, 5))
        self.H1b = nn.Parameter(torch.zeros(12, 8, 8))
        self.H2w = nn.Parameter(winit(5 * 5 * 8, 12, 8, 5, 5))
        self.H2b = nn.Parameter(torch.zeros(12, 4, 4))
        self.H3w = nn.Parameter(winit(4 * 4 * 12, 4 * 4 * 12, 30))
        self.H3b = nn.Parameter(torch.zeros(30))
        self.outw = nn.Parameter(winit(30, 30, 10))
        self.outb = nn.Parameter(-torch.ones(10))

    def forward(self, x):
        x = F.pad(x, (2, 2, 2, 2), 'constant', -1.0)
        x = F.conv2d(x, self.H1w, stride=2) + self.H1b
        x = torch.tanh(x)
        x = F.pad(x, (2, 2, 2, 2), 'constant', -1.0)
        slice1 = F.conv2d(x[:, 0:8], self.H2w[0:4], stride=2)
        slice2 = F.conv2d(x[:, 4:12], self.H2w[4:8], stride=2)
        slice3 = F.conv2d(torch.cat((x[:, 0:4], x[:, 8:12]), dim=1), self.H2w[8:12], stride=2)
        x = torch.cat((slice1, slice2, slice3), dim=1) + self.H2b
        x = torch.tanh(x)
        x = x.flatten(start_dim=1)
        x = x @ self.H3w + self.H3b
        x = torch.tanh(x)
        x = x @ self.outw + self.outb
        x = torch.tanh(x)
        return x


def read_safetensors(path):
    """A minimal float32-only reader (the safetensors package is not in Debian): {name: tensor}."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    tensors = {}
    for name, entry in header.items():
        if name == '__metadata__':
            continue
        assert entry['dtype'] == 'F32', f'{path}: {name} is {entry["dtype"]}'
        begin, end = entry['data_offsets']
        array = np.frombuffer(data[8 + n + begin:8 + n + end], dtype='<f4').reshape(entry['shape'])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def eval_split(model, X, Y):
    """The reproduction's eval_split, but counting misses instead of truncating a float."""
    with torch.no_grad():
        Yhat = model(X)
        loss = torch.mean((Y - Yhat) ** 2).item()
        misses = int((Y.argmax(dim=1) != Yhat.argmax(dim=1)).sum().item())
    return {'loss': loss, 'errorPercent': 100.0 * misses / Y.size(0), 'misses': misses}
