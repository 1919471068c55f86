"""Progressive BinaryRNN entropy model and range coding (2017 paper, section 3).

The BinaryRNN (model.py), its exact integer twin (integer.py), range
coding (coding.py), code datasets (dataset.py, build_codes.py) and its
training (train.py).
"""
