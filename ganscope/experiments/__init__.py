"""Paper experiments: each module computes one paper's figure from the library's parts and writes its outputs.

* ``wgan_toy``: Gulrajani et al. 2017 (WGAN-GP), Figure 1 on the 2-D toy sets: (a) critic value surfaces,
  weight clipping vs gradient penalty; (b) the clipping pathology in a 12-layer critic (gradient norms
  through the layers, weight histograms). Command line: ``ganscope toy2d critic-surface | clipping-pathology``.
* ``arjovsky2017``: Arjovsky & Bottou 2017 §2 in fixed settings: JSD saturation at log 2 (Thm 2.3), perfect
  discrimination on low-dimensional supports (Thms 2.1/2.2), the −log D cost's gradient (Thm 2.5). Command
  line: ``ganscope theory jsd-saturation | perfect-d | theorem-2-5``.

Experiments may import ``ganscope.analysis``; analysis never imports experiments.
"""
