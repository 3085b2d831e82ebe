"""Model, spike, result and teacher-features files: HDF5, format version 1 (DESIGN.md section 4).
Never pickle.

Writers compress with gzip and write atomically. Readers check format, version, every dataset's
presence, dtype and shape, table values and index ranges, and refuse anything else with one
:class:`~spikelut.errors.FileFormatError` that names the file and the field. Files are untrusted
(``docs/threat-model.md``): readers refuse special files, links, external storage, virtual
datasets and unknown filters, and check every declared size against :mod:`spikelut.limits`
before reading it.

The parts: :mod:`.hdf5` (reading untrusted HDF5, the format check, metadata), :mod:`.encoding`
(how data were encoded, as files and models record it), :mod:`.models`, :mod:`.spikes`,
:mod:`.results` and :mod:`.features` (one file kind each). Their public names are imported here;
callers import them from ``spikelut.io``.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> from spikelut.io import save_spikes, load_spikes
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.h5"
    >>> save_spikes(p, np.zeros((4, 2, 3), np.uint8), labels=[0, 1], meta={"coding": "none"})
    >>> d = load_spikes(p)
    >>> d.spikes.shape, d.labels.tolist(), d.meta["coding"]
    ((4, 2, 3), [0, 1], 'none')
"""

from .encoding import (coding_hint, encode_options, encoding_difference, encoding_mismatch,
                       encoding_record, record_encoding)
from .features import load_features, save_features
from .hdf5 import FEATURES_FORMAT, MODEL_FORMAT, SPIKES_FORMAT, VERSION, meta_json
from .models import load_model, save_model
from .results import ResultReader, check_sample, load_result, load_result_sample, open_result
from .spikes import (CHUNK_BYTES, SpikeData, SpikeReader, SpikeWriter, load_spikes, open_spikes,
                     save_spikes, spike_chunks, spike_writer)

# spikelut.train (checkpoints, rewiring) and spikelut.datasets share this package's underscored
# helpers (HDF5 reading rules, encoding records) by importing them from the defining module
__all__ = ["CHUNK_BYTES", "FEATURES_FORMAT", "MODEL_FORMAT", "ResultReader", "SPIKES_FORMAT",
           "SpikeData", "SpikeReader", "SpikeWriter", "VERSION", "check_sample", "coding_hint",
           "encode_options", "encoding_difference", "encoding_mismatch", "encoding_record",
           "load_features", "load_model", "load_result", "load_result_sample", "load_spikes",
           "meta_json", "open_result", "open_spikes", "record_encoding", "save_features",
           "save_model", "save_spikes", "spike_chunks", "spike_writer"]
