"""`newsmt eval`: measure translation and summary quality with the server's own engines and
decoding settings, check that int8 matches float32, and calibrate the LOW_CONFIDENCE threshold.

The top layer of the server distribution: it drives the models and the pipeline's segmentation
and quality signals directly, without a server.
"""
