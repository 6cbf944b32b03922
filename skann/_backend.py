"""Imported by every skann module that uses TensorFlow, before it imports Keras.

TensorFlow is imported once, without its start-up log spam, and its thread pools are sized
for this process's share of the CPU (joblib and Dask workers). ``import skann`` alone stays
light, so the command line starts at once.
"""

from skann._quiet import import_tensorflow_quietly
from skann._threads import limit_tensorflow_threads

import_tensorflow_quietly()
limit_tensorflow_threads()  # one share of the CPU per parallel worker (joblib, Dask)
