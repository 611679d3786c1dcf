"""The RPC call table by area: each module defines ``CALLS``."""
