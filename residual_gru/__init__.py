"""The recurrent image codec network of Toderici et al. (CVPR 2017).

Keras layers (layers.py), the encoder/decoder model (model.py), configs
(config.py), the HE tile pipeline (data.py, build_dataset.py) and the
training binary (train.py).
"""
