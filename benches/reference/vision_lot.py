"""LoT image classification, the reference trainer's inner loop in PyTorch (our re-implementation).

What it reproduces of trainer/image_classification.py + utils/data.py + model/preresnet.py
(jincan333/LoT; see docs/algorithm.md, "Image classification"):
  * PreAct ResNet (bearpaw) teacher and student, seeded `seed` and `seed + 1`;
  * the data path: a torch Dataset whose __getitem__ applies the train transform per sample
    (RandomCrop(32, padding=4) → RandomHorizontalFlip → ToTensor → Normalize(0.5, 0.5)), a shuffled
    DataLoader (batch 256, num_workers 4, pin_memory on CUDA) restarted every 11 batches
    (`for _ in range(len(loader)//10): for idx, batch in enumerate(loader): if idx > 10: break`);
  * each teacher step: both models forward on the batch, kl_ce losses, teacher_loss.backward(),
    student_loss.backward(), both SGD steps (momentum 0.9, Nesterov, wd 1e-4), `.item()` accuracy;
  * then N−1 extra student steps whose batch is built the reference's way: `get_batch` — a
    per-sample Python loop over `dataset[i]` (train transform) and `torch.stack`, on a sequential
    `student_index`; the teacher runs forward in train mode on it *with* autograd (as the reference).
Differences (no torchvision/PIL here): the data is synthetic CIFAR-shaped uint8 (HWC, as CIFAR's
array) and the transforms are written in torch on the uint8 tensor instead of PIL. lr is 0.1 instead
of the script's 1.0 so that random labels cannot push the loss to NaN (timing does not depend on it).

Prints one JSON line: steps, total_s (process start → end), train_s (the timed steps), per_step_s,
peak RSS of this process and of its DataLoader workers (resource.getrusage).
"""
import time

T_START = time.time()

import argparse
import json
import math
import resource
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- model/preresnet.py (bearpaw pre-activation ResNet) ------------------------------------------
def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.bn1(x)
        out = self.relu(out)
        out = self.conv1(out)
        out = self.bn2(out)
        out = self.relu(out)
        out = self.conv2(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        residual = x
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return out


class PreResNet(nn.Module):
    def __init__(self, depth, num_classes=100, in_channels=3, input_size=32):
        super().__init__()
        if depth >= 44:
            assert (depth - 2) % 9 == 0
            n, block = (depth - 2) // 9, Bottleneck
        else:
            assert (depth - 2) % 6 == 0
            n, block = (depth - 2) // 6, BasicBlock
        self.inplanes = 16
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, padding=1, bias=False)
        self.layer1 = self._make_layer(block, 16, n)
        self.layer2 = self._make_layer(block, 32, n, stride=2)
        self.layer3 = self._make_layer(block, 64, n, stride=2)
        self.bn = nn.BatchNorm2d(64 * block.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(input_size // 4)
        self.fc = nn.Linear(64 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                k = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / k))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.bn(x)
        x = self.relu(x)
        x = self.avgpool(x)
        x = x.view(x.size(0), -1)
        return self.fc(x)


# ---- utils/data.py: the train transform, written in torch (torchvision's semantics) --------------
class TrainTransform:
    """RandomCrop(size, padding=4) → RandomHorizontalFlip → ToTensor → Normalize(0.5, 0.5)."""

    def __init__(self, size, padding=4):
        self.size, self.padding = size, padding

    def __call__(self, img):  # uint8 HWC, as CIFAR's array
        chw = img.permute(2, 0, 1)
        p = self.padding
        padded = F.pad(chw, (p, p, p, p))  # zero fill, as the PIL padding
        h, w = padded.shape[1], padded.shape[2]
        i = torch.randint(0, h - self.size + 1, size=(1,)).item()
        j = torch.randint(0, w - self.size + 1, size=(1,)).item()
        out = padded[:, i : i + self.size, j : j + self.size]
        if torch.rand(1) < 0.5:
            out = out.flip(-1)
        x = out.contiguous().to(dtype=torch.float32).div(255)  # ToTensor
        return x.sub_(0.5).div_(0.5)  # Normalize(mean 0.5, std 0.5)


class SyntheticCIFAR(torch.utils.data.Dataset):
    """CIFAR-shaped random uint8 images (N, 32, 32, 3) and labels; __getitem__ as torchvision's CIFAR."""

    def __init__(self, n, num_classes, transform, seed=0, size=32, channels=3):
        g = torch.Generator().manual_seed(seed)
        self.data = torch.randint(0, 256, (n, size, size, channels), dtype=torch.uint8, generator=g)
        self.targets = torch.randint(0, num_classes, (n,), generator=g).tolist()
        self.transform = transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        img, target = self.data[index], self.targets[index]
        return self.transform(img), target


# ---- trainer/image_classification.py -------------------------------------------------------------
def kl_div_logits(p, q, T):
    loss_func = nn.KLDivLoss(reduction="batchmean", log_target=True)
    return loss_func(F.log_softmax(p / T, dim=-1), F.log_softmax(q / T, dim=-1)) * T * T


def get_batch(data_loader, batch_index):
    start_index = batch_index * data_loader.batch_size
    end_index = start_index + data_loader.batch_size
    batch_data, batch_targets = [], []
    for i in range(start_index, end_index):
        if i >= len(data_loader.dataset):
            break
        data, target = data_loader.dataset[i]
        batch_data.append(data)
        batch_targets.append(target)
    return torch.stack(batch_data), torch.tensor(batch_targets)


def peak_rss_mb(who):
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(who).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10, help="timed teacher steps")
    ap.add_argument("--warmup", type=int, default=2, help="untimed teacher steps first")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--student-steps", type=int, default=2, help="N")
    ap.add_argument("--depth", type=str, default="20_20")
    ap.add_argument("--samples", type=int, default=50000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--workers", type=int, default=4, help="DataLoader workers (the reference: 4)")
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--T", type=float, default=1.5)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", type=str, default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    t_depth, s_depth = (int(d) for d in args.depth.split("_"))

    train_set = SyntheticCIFAR(args.samples, args.classes, TrainTransform(32), seed=args.seed)
    loader = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.workers, pin_memory=cuda
    )
    torch.manual_seed(args.seed)
    teacher = PreResNet(t_depth, args.classes).to(device)
    torch.manual_seed(args.seed + 1)
    student = PreResNet(s_depth, args.classes).to(device)
    sgd = dict(lr=args.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    teacher_optimizer = torch.optim.SGD(teacher.parameters(), **sgd)
    student_optimizer = torch.optim.SGD(student.parameters(), **sgd)
    teacher.train()
    student.train()
    alpha, T = args.alpha, args.T
    student_index = 0
    total = args.warmup + args.steps
    done = 0
    teacher_correct = student_correct = seen = 0
    loss = 0  # the reference sums the loss tensors (graph nodes included) over an epoch
    t_timed = None
    if total == args.steps:
        t_timed = time.time()
    while done < total:
        for _ in range(max(len(loader) // 10, 1)):
            for idx, (inputs, targets) in enumerate(loader):
                if idx > 10 or done >= total:
                    break
                inputs, targets = inputs.to(device, non_blocking=True), targets.to(device, non_blocking=True)
                teacher_optimizer.zero_grad()
                student_optimizer.zero_grad()
                teacher_pred = F.log_softmax(teacher(inputs), dim=-1)
                student_pred = F.log_softmax(student(inputs), dim=-1)
                teacher_loss = F.cross_entropy(teacher_pred, targets) + alpha * kl_div_logits(
                    teacher_pred, student_pred.detach(), T
                )
                student_loss = F.cross_entropy(student_pred, targets) + alpha * kl_div_logits(
                    student_pred, teacher_pred.detach(), T
                )
                teacher_loss.backward()
                student_loss.backward()
                teacher_optimizer.step()
                student_optimizer.step()
                teacher_correct += teacher_pred.max(1)[1].eq(targets).sum().item()
                student_correct += student_pred.max(1)[1].eq(targets).sum().item()
                loss += teacher_loss
                seen += targets.size(0)
                for _ in range(args.student_steps - 1):
                    s_inputs, s_targets = get_batch(loader, student_index)
                    s_inputs, s_targets = s_inputs.to(device), s_targets.to(device)
                    student_index = (student_index + 1) % len(loader)
                    teacher_pred = F.log_softmax(teacher(s_inputs), dim=-1)
                    student_pred = F.log_softmax(student(s_inputs), dim=-1)
                    student_loss = F.cross_entropy(student_pred, s_targets) + alpha * kl_div_logits(
                        student_pred, teacher_pred.detach(), T
                    )
                    student_optimizer.zero_grad()
                    student_loss.backward()
                    student_optimizer.step()
                done += 1
                if done == args.warmup:
                    if cuda:
                        torch.cuda.synchronize()
                    t_timed = time.time()
            if done >= total:
                break
    if cuda:
        torch.cuda.synchronize()
    t_end = time.time()
    train_s = t_end - t_timed
    out = {
        "program": "vision_lot.py",
        "steps": args.steps,
        "warmup": args.warmup,
        "total_s": t_end - T_START,
        "train_s": train_s,
        "per_step_s": train_s / max(args.steps, 1),
        "images_per_s": args.steps * args.batch_size / max(train_s, 1e-9),
        "peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "children_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "threads": torch.get_num_threads(),
        "device": str(device),
        "train_acc_teacher": 100.0 * teacher_correct / max(seen, 1),
    }
    if cuda:
        out["gpu_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    sys.exit(main())
