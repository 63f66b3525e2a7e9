"""Generated from protos/newsmt/v1 by scripts/gen_protos.py. Do not edit."""
