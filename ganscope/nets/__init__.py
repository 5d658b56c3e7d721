"""Networks for the generator and the discriminator: MLPs (and batched MLP ensembles) for the toy problems."""
