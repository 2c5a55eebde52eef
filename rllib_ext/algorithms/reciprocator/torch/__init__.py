"""The Reciprocator's torch parts: its learner, the official Coin Game conv + GRU module and its circular convolution."""
