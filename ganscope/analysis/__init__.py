"""Analyses of GAN training dynamics."""
