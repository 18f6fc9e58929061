"""How torch 1.13 (CPU) rounds F.interpolate(mode='bilinear') in float32; documentation only, never run by npm test.

    /usr/bin/python3 test/crosscheck/bilinear_rounding.py

On uint8-derived inputs x/127.5 - 1 and a 28->16 resize, torch's output equals the exact bilinear sum rounded once
to float32 (computed here in float64, where these sums are exact). Chains of float32-rounded operations, in either
axis order, with or without fused multiply-adds, each differ from torch in a large share of the pixels. This is why
core/subset.ts resizes in float64 and rounds once on store.
"""
import numpy as np
import torch
import torch.nn.functional as F

f32 = np.float32
rng = np.random.default_rng(0)
images = (rng.integers(0, 256, size=(200, 28, 28)).astype(f32) / f32(127.5) - f32(1)).astype(f32)
reference = F.interpolate(torch.from_numpy(images)[:, None], (16, 16), mode='bilinear')[:, 0].numpy()

# Source taps as torch's compute_source_index_and_lambda has them for align_corners=False.
scale = f32(28 / 16)
lower, upper, w_lower, w_upper = [], [], [], []
for dst in range(16):
    src = max(f32(f32(scale * f32(dst + 0.5)) - f32(0.5)), f32(0))
    i = int(src)
    lower.append(i)
    upper.append(i + 1 if i < 27 else i)
    w_upper.append(f32(src - f32(i)))
    w_lower.append(f32(f32(1) - w_upper[-1]))
lower, upper = np.array(lower), np.array(upper)
w_lower, w_upper = np.array(w_lower, f32), np.array(w_upper, f32)

a = images[:, lower][:, :, lower]
b = images[:, lower][:, :, upper]
c = images[:, upper][:, :, lower]
d = images[:, upper][:, :, upper]
H0, H1 = w_lower[None, :, None], w_upper[None, :, None]
W0, W1 = w_lower[None, None, :], w_upper[None, None, :]


def fma(x, y, z):  # float32 fused multiply-add: x*y is exact in float64
    return (x.astype(np.float64) * y + z).astype(f32)


def as64(x):
    return x.astype(np.float64)


candidates = {
    'float32, rows then columns': (a * W0 + b * W1) * H0 + (c * W0 + d * W1) * H1,
    'float32, columns then rows': (a * H0 + c * H1) * W0 + (b * H0 + d * H1) * W1,
    'float32 with fma, rows then columns': fma(fma(a, W0, b * W1), H0, fma(c, W0, d * W1) * H1),
    'float32, four corner weights': ((a * (H0 * W0) + b * (H0 * W1)) + c * (H1 * W0)) + d * (H1 * W1),
    'float32 with fma, four corner weights': fma(d, H1 * W1, fma(c, H1 * W0, fma(b, H0 * W1, a * (H0 * W0)))),
    'float64, rounded once': ((as64(a) * W0 + as64(b) * W1) * H0 + (as64(c) * W0 + as64(d) * W1) * H1).astype(f32),
}
for name, values in candidates.items():
    values = values.astype(f32)
    print(f'{name:40s} differs from torch in {int((values != reference).sum()):6d} of {reference.size} pixels')
