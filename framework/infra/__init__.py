"""Infrastructure: what keeps the model code fast and safe, apart from the model code.

A learner reads ``framework/`` (the net, its layers, parameters, optimizers,
losses, the training loop); nothing here is needed to follow the math. This
subpackage holds the machinery around it:

    serialization/  HDF5 save and load: atomic writes, checksums, strict checked reads
    compare/        the fair-comparison runner (sweeps, results log, process pools, Dask)
    memory.py       the memory estimate that refuses a net the machine cannot hold
    threads.py      how many BLAS threads training uses
    buffers.py      BufferCache: the reused work arrays behind an allocation-free step
    validation.py   the argument checks shared by every module
"""
