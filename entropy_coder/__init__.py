"""Progressive BinaryRNN entropy model and range coding (2017 paper, section 3).

Not built yet: see the open entropy-coder issue.
"""
