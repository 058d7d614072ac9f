"""What the Kubernetes backends share (k8s_job, argo, tekton): the pods they run the executor in, and their names.

A subpackage of the backends layer that each of them may import (tests/test_layering.py); it imports core only.
"""
