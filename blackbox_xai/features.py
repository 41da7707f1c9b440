"""Feature groups and maskers.

A :class:`FeatureSpace` says which positions of an input form each of its ``M`` features:

* per element (``groups=None``): every entry of ``x`` is a feature;
* broadcast axes (``groups=(1, 28, 28)`` for ``x`` of shape ``(3, 28, 28)``): a mask shape whose
  size-1 axes group entries - one feature per pixel over all channels, per token over embeddings;
* an integer group map (``groups=superpixels``): an int array broadcastable to ``x``; every
  distinct id is one feature (superpixels, word ids). Features are ordered by id.

Features are numbered ``0..M-1`` in row-major order of the mask shape (``np.nonzero`` order).
The maskers that turn feature masks into model inputs live in :mod:`blackbox_xai.maskers`.
"""
from __future__ import annotations

import numbers

import numpy as np

from blackbox_xai._validation import check_array


class BackgroundMean:
    """Masked value = the mean of a background set ``X`` of shape ``(N, *x.shape)``.

    The usual "training mean" masking of SIS: ``masked_value=BackgroundMean(X_train)``.
    """

    def __init__(self, background):
        self.background = background

    def resolve(self, input_shape) -> np.ndarray:
        bg = check_array(self.background, "background", min_ndim=1)
        if tuple(bg.shape[1:]) != tuple(input_shape):
            raise ValueError(
                f"background has shape {bg.shape} but x has shape {tuple(input_shape)}; "
                f"expected (N, {', '.join(map(str, input_shape))})"
            )
        return bg.mean(axis=0)

    def __repr__(self) -> str:
        return f"BackgroundMean(<{np.shape(self.background)}>)"


def resolve_masked_input(masked_value, input_shape, dtype=np.float64, name="masked_value") -> np.ndarray:
    """The fully masked input: ``masked_value`` (None -> 0, scalar, array broadcastable to the
    input, or :class:`BackgroundMean`) broadcast to ``input_shape``; ``name`` is the parameter's
    name in messages."""
    input_shape = tuple(input_shape)
    if masked_value is None:
        value = np.zeros(input_shape)
    elif isinstance(masked_value, BackgroundMean):
        value = masked_value.resolve(input_shape)
    elif isinstance(masked_value, numbers.Real) and not isinstance(masked_value, bool):
        value = check_array(np.full(input_shape, float(masked_value)), name)
    else:
        value = check_array(masked_value, name, min_ndim=0)
    try:
        full = np.broadcast_to(value, input_shape)
    except ValueError:
        raise ValueError(
            f"{name} has shape {np.shape(value)} but x has shape {input_shape}; "
            "it must be a scalar or broadcastable to x"
        ) from None
    return np.array(full, dtype=dtype)


class FeatureSpace:
    """The features of inputs of one shape.

    Parameters
    ----------
    input_shape : tuple of int
    groups : None, tuple of int, or int array
        None: one feature per element. Tuple: a mask shape broadcastable to ``input_shape``
        (size-1 axes group entries). Int array broadcastable to ``input_shape``: a group map,
        one feature per distinct id.

    Attributes
    ----------
    n_features : int
        M.
    mask_shape : tuple
        Shape of a feature mask laid out in input space: the broadcast mask shape, or the input
        shape for group maps.
    group_ids : ndarray or None
        For group maps, the id of feature m at ``group_ids[m]``.
    feature_of_position : ndarray (P,)
        Feature id of every flattened input position.
    """

    def __init__(self, input_shape, groups=None):
        self.input_shape = tuple(int(d) for d in input_shape)
        positions = int(np.prod(self.input_shape))
        self.group_ids = None
        if groups is None:
            self.mask_shape = self.input_shape
            self.n_features = positions
            self.feature_of_position = np.arange(positions, dtype=np.intp)
        elif isinstance(groups, tuple):
            self._init_broadcast(groups)
        else:
            self._init_group_map(groups)

    def _init_broadcast(self, mask_shape):
        mask_shape = tuple(int(d) for d in mask_shape)
        ok = len(mask_shape) == len(self.input_shape) and all(
            m in (1, d) for m, d in zip(mask_shape, self.input_shape)
        )
        if not ok:
            raise ValueError(
                f"groups (a mask shape) is {mask_shape} but x has shape {self.input_shape}; each "
                "axis must be 1 (grouped) or equal to x's"
            )
        self.mask_shape = mask_shape
        self.n_features = int(np.prod(mask_shape))
        ids = np.arange(self.n_features, dtype=np.intp).reshape(mask_shape)
        self.feature_of_position = np.broadcast_to(ids, self.input_shape).ravel().copy()

    def _init_group_map(self, groups):
        gmap = np.asarray(groups)
        if gmap.dtype == bool or not np.issubdtype(gmap.dtype, np.integer):
            raise ValueError(
                f"groups must be None, a mask-shape tuple or an integer group map, got an array "
                f"of dtype {gmap.dtype}"
            )
        try:
            gmap = np.broadcast_to(gmap, self.input_shape)
        except ValueError:
            raise ValueError(
                f"groups (a group map) has shape {np.shape(groups)} but x has shape "
                f"{self.input_shape}; it must be broadcastable to x"
            ) from None
        ids, inverse = np.unique(gmap.ravel(), return_inverse=True)
        self.group_ids = ids
        self.mask_shape = self.input_shape
        self.n_features = len(ids)
        self.feature_of_position = inverse.astype(np.intp)

    # -- conversions ---------------------------------------------------------------------------
    def coords(self, features) -> np.ndarray:
        """Coordinates of features in mask space, shape ``(k, ndim)``; where one number names a
        feature (a 1-D mask space, or the group ids of a group map), flat ``(k,)``."""
        features = np.asarray(features, dtype=np.intp)
        if self.group_ids is not None:
            return self.group_ids[features].reshape(-1)
        if len(self.mask_shape) == 1:
            return features.reshape(-1).copy()
        if len(features) == 0:
            return np.zeros((0, len(self.mask_shape)), dtype=np.intp)
        return np.stack(np.unravel_index(features, self.mask_shape), axis=1).astype(np.intp)

    def to_mask(self, feature_mask) -> np.ndarray:
        """A boolean feature mask ``(M,)`` laid out in ``mask_shape``."""
        feature_mask = np.asarray(feature_mask, dtype=bool)
        if self.group_ids is not None:
            return feature_mask[self.feature_of_position].reshape(self.input_shape)
        return feature_mask.reshape(self.mask_shape)

    def from_mask(self, mask, name: str = "mask") -> np.ndarray:
        """A mask given in mask space (or, for group maps, one bool per group) -> ``(M,)``."""
        mask = np.asarray(mask)
        if mask.dtype != bool:
            raise ValueError(f"{name} must be boolean, got dtype {mask.dtype}")
        if self.group_ids is not None:
            if mask.shape != (self.n_features,):
                raise ValueError(
                    f"{name} has shape {mask.shape}; with a group map it must hold one bool per "
                    f"group, shape ({self.n_features},)"
                )
            return mask.copy()
        if mask.shape != self.mask_shape:
            raise ValueError(f"{name} has shape {mask.shape} but the features have mask shape {self.mask_shape}")
        return mask.ravel().copy()
