"""joey's benchmarks: joey against bare onnxruntime (the limit) and a hand-written Serve app (the peer).

Run ``python -m benchmarks.run [--quick] [--out benchmarks/results]``; see ``benchmarks/README.md``.
"""
