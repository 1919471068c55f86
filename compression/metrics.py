"""Image quality metrics of the codec (MS-SSIM, PSNR, PSNR-HVS, block SSIM).

Computed in residual_gru.metrics, which training shares; this is their
public name for users of the codec.
"""

from residual_gru.metrics import (MSSSIM_WEIGHTS, block_ssim, luma, msssim,
                                  msssim_reference, msssim_scales, psnr,
                                  psnr_hvs)

__all__ = ["MSSSIM_WEIGHTS", "block_ssim", "luma", "msssim",
           "msssim_reference", "msssim_scales", "psnr", "psnr_hvs"]
