"""Networks for the generator and the discriminator: MLPs (and batched MLP ensembles) for the toy problems
(``mlp``), convolutional image nets (``conv``: DCGAN, GAN_stability ResNet, WGAN-GP CIFAR ResNet) and RP-GAN's
random projections with grouped discriminators (``rp``)."""
