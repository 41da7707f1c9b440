"""The main job: compare a CNN's and an MLP's rationales with SIS clustering, end to end.

Trains a small CNN and an MLP with torch on scikit-learn's digits upsampled to 28x28 (nothing is
downloaded), finds the sufficient input subsets of both models on the test images of one digit
(threshold 0.7, masked pixels take the training mean), clusters all SIS jointly and cross-checks
them. Tables, figures and report.html go to --out.

    python examples/compare_cnn_mlp.py                    # ~1-2 minutes on 2 cores (fast SIS)
    python examples/compare_cnn_mlp.py --digit 7 --mode exact --n-per-model 10
    python examples/compare_cnn_mlp.py --full             # exact SIS on every digit (hours)

The same study runs as ``blackbox-xai compare``. See blackbox_xai/analysis/cnn_vs_mlp.py.
"""
from blackbox_xai.analysis.cnn_vs_mlp import main

if __name__ == "__main__":
    main()
