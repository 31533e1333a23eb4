"""GAN reversal image compression."""
