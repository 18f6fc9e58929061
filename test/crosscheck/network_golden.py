"""Golden values for test/network.test.ts from real PyTorch: the reproduction's init for seed 1337 and its
forward pass on a fixed synthetic input. Documentation only (npm test never runs it):
    /usr/bin/python3 test/crosscheck/network_golden.py
"""
import json

import torch

from repro_net import Net

torch.manual_seed(1337)
model = Net()
sd = {k: v.detach() for k, v in model.state_dict().items()}
# The same synthetic input the test builds: pixel i of the 16x16 image is ((i * 7) % 17) / 8 - 1.
x = torch.tensor([((i * 7) % 17) / 8 - 1 for i in range(256)], dtype=torch.float32).reshape(1, 1, 16, 16)
with torch.no_grad():
    y = model(x)
print(json.dumps({
    'H1w_first4': [float(v) for v in sd['H1w'].flatten()[:4]],
    'H2w_first2': [float(v) for v in sd['H2w'].flatten()[:2]],
    'H3w_first2': [float(v) for v in sd['H3w'].flatten()[:2]],
    'outw_last2': [float(v) for v in sd['outw'].flatten()[-2:]],
    'output': [float(v) for v in y.flatten()],
}, indent=1))
