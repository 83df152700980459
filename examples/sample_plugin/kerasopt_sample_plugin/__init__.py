"""kerasopt-sample-plugin: the 'qhm' optimizer for Keras 3, a kerasopt_plugins plugin."""

from kerasopt_sample_plugin.optimizer import QHM

__all__ = ["QHM"]
