"""Paper experiments: each module computes one paper's figure from the library's parts and writes its outputs.

* ``wgan_toy``: Gulrajani et al. 2017 (WGAN-GP), Figure 1 on the 2-D toy sets: (a) critic value surfaces,
  weight clipping vs gradient penalty; (b) the clipping pathology in a 12-layer critic (gradient norms
  through the layers, weight histograms). Command line: ``ganscope toy2d critic-surface | clipping-pathology``.
"""
