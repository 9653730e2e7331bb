"""The spectral block's step cut into pieces, each timed alone.

`specnet bench speed --suite breakdown` runs `pieces` in a fresh process per
shape: the FFTs, the kernel spectra, the products, the threshold and
activation, the layout changes, the inverse FFT, the pooling, the cache's
round trip and the forward pass recomputed in the backward pass, each a
compiled `tf.function` on the block's real shapes (see
`keras_specnet.bench.speed`).
"""

from keras_specnet.bench import runner, speed


def timer(config, grad):
    """`time(fn, *args)`: median seconds of a compiled `fn(*args)` [+ gradients]."""
    import tensorflow as tf

    def parts(t):
        return tf.math.real(t) + tf.math.imag(t) if t.dtype.is_complex else t

    def time_it(fn, *args):
        @tf.function
        def f(*a):
            if not grad:
                return fn(*a)
            with tf.GradientTape() as tape:
                tape.watch(a)
                outs = tf.nest.flatten(fn(*a))
                # A sum of squares: the gradient of a plain sum through a
                # linear piece would not depend on its input, and graph
                # optimisation could fold it and drop the forward pass.
                loss = tf.add_n([tf.reduce_sum(tf.square(parts(t))) for t in outs])
            return outs, tape.gradient(loss, a)

        def run():
            return tf.nest.flatten(f(*args))[0].numpy()

        return runner.median_seconds(run, config["steps"], config["warmup"])

    return time_it


def pieces(config):
    """Seconds of each piece of the spectral block's step, or None where a
    function of `keras_specnet.spectral` / `keras_specnet.cache` is missing."""
    import tensorflow as tf

    from keras_specnet import cache as cache_module
    from keras_specnet import spectral as sp

    model = speed._block(config)
    x = tf.constant(speed._random_images(config, config["shape"])[0])
    h, w = config["shape"][:2]
    # Looked up by name: a renamed function shows as missing in the table.
    names = (
        "frequency_major_of_map kernel_spectrum product_parts add_bias_parts threshold_parts"
        " frequency_major from_frequency_major to_spatial"
    )
    fns = {n: getattr(sp, n, None) for n in names.split()}
    fns.update({n: getattr(cache_module, n, None) for n in ("compress", "decompress")})
    pieces = {"(missing: " + " ".join(n for n, f in fns.items() if f is None) + ")": None}
    if None in fns.values():
        return pieces
    conv1, conv2 = model.get_layer("block_conv1"), model.get_layer("block_conv2")
    fft = sp.padded_size(h, w, 2, 2)
    off1 = (sp.same_padding_offset(h, 3), sp.same_padding_offset(w, 3))
    off2 = tuple(sp.same_padding_offset(n, 3) for n in fft)
    beta, mode = config["beta"], speed._cache_args(config)
    cache, dtype = mode["cache"], mode["cache_dtype"]

    # The layers' own path: frequency-major parts from the product to the
    # activation, the documented spectral layout between the layers.
    def linear(parts, kernel, bias, off):
        real, imag = sp.product_parts(*parts, sp.kernel_spectrum(kernel, fft, off))
        return sp.add_bias_parts(real, bias, fft), imag

    def act(parts):
        real, imag = sp.threshold_parts(*parts, beta)
        return tf.tanh(real), tf.tanh(imag)

    def forward(x, k1, b1, k2, b2):
        z1 = sp.from_frequency_major(
            *act(linear(sp.frequency_major_of_map(x, fft), k1, b1, off1)), fft
        )
        z2 = act(linear(sp.frequency_major(z1), k2, b2, off2))
        z2 = sp.from_frequency_major(*z2, fft)
        return tf.nn.max_pool2d(sp.to_spatial(z2, (h, w)), 2, 2, "SAME")

    def round_trip(z):
        return cache_module.decompress(cache_module.compress(z, cache, dtype), cache, dtype)

    k1, b1, k2, b2 = (tf.convert_to_tensor(v) for v in (*conv1.weights, *conv2.weights))
    s1, s2 = sp.kernel_spectrum(k1, fft, off1), sp.kernel_spectrum(k2, fft, off2)
    p0 = sp.frequency_major_of_map(x, fft)
    y1 = linear(p0, k1, b1, off1)
    p1 = act(y1)
    y2 = linear(p1, k2, b2, off2)
    z1, z2 = sp.from_frequency_major(*p1, fft), sp.from_frequency_major(*act(y2), fft)
    both, fwd = timer(config, True), timer(config, False)

    def spectra(a, b):
        return (*sp.kernel_spectrum(a, fft, off1), *sp.kernel_spectrum(b, fft, off2))

    def products(r0, i0, c1, d1, b1, r1, i1, c2, d2, b2):
        out1 = sp.product_parts(r0, i0, (c1, d1))
        out2 = sp.product_parts(r1, i1, (c2, d2))
        return (
            sp.add_bias_parts(out1[0], b1, fft),
            out1[1],
            sp.add_bias_parts(out2[0], b2, fft),
            out2[1],
        )

    def layouts(a, b, z):
        # Out of the first layer's parts, into the second's, out of its parts.
        return (
            sp.from_frequency_major(a, b, fft),
            sp.frequency_major(z),
            sp.from_frequency_major(a, b, fft),
        )

    cached = cache != "none"
    return {
        "rfft2d to frequency-major": both(lambda x: sp.frequency_major_of_map(x, fft), x),
        "kernel spectra (2)": both(spectra, k1, k2),
        "products + bias (2)": both(products, *p0, *s1, b1, *p1, *s2, b2),
        "threshold + tanh (2)": both(lambda a, b, c, d: (*act((a, b)), *act((c, d))), *y1, *y2),
        "layout changes (3)": both(layouts, *p1, z1),
        "irfft2d + crop (to_spatial)": both(lambda z: sp.to_spatial(z, (h, w)), z2),
        "max pooling": both(lambda t: tf.nn.max_pool2d(t, 2, 2, "SAME"), sp.to_spatial(z2, (h, w))),
        "cache compress + decompress (2)": (
            fwd(lambda a, b: (round_trip(a), round_trip(b)), z1, z2) if cached else 0.0
        ),
        "forward recomputed in backward": fwd(forward, x, k1, b1, k2, b2) if cached else 0.0,
    }
