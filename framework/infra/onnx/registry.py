"""The three tables behind ONNX export and import, open to a user's own entries.

    @register_layer_exporter(MyLayer)
    def export_my_layer(layer, graph, x):      # graph: a GraphWriter; x: the input's name
        return graph.node("Mul", [x, graph.constant(f"{graph.prefix}/scale", layer.s)])

    @register_activator_exporter("square_plus")
    def export_square_plus(activator, graph, x): ...

    @register_op_importer("Selu")
    def import_selu(node, graph, shape):        # graph: a GraphReader; shape: per sample
        return Converted([Piece({"type": "selu"})], shape)

Layer exporters are found along the class's MRO (a subclass of FcLayer is
exported as an FcLayer unless it registers its own); activators by their
registered name; importers by the node's op type. Nothing here imports onnx.
"""
LAYER_EXPORTERS = {}        # layer class -> function(layer, graph, x) -> output name
ACTIVATOR_EXPORTERS = {}    # activator name -> function(activator, graph, x) -> output name
OP_IMPORTERS = {}           # ONNX op type -> function(node, graph, shape) -> Converted


def register_layer_exporter(layer_class):
    """Decorator: export instances of ``layer_class`` with the decorated function."""
    def register(function):
        LAYER_EXPORTERS[layer_class] = function
        return function
    return register


def register_activator_exporter(name):
    """Decorator: export the activator (or classifier) registered as ``name``."""
    def register(function):
        ACTIVATOR_EXPORTERS[name] = function
        return function
    return register


def register_op_importer(op_type):
    """Decorator: import nodes of ``op_type`` with the decorated function."""
    def register(function):
        OP_IMPORTERS[op_type] = function
        return function
    return register


def layer_exporter(layer):
    """The exporter of ``layer``'s class or its nearest registered base, else None."""
    for cls in type(layer).__mro__:
        if cls in LAYER_EXPORTERS:
            return LAYER_EXPORTERS[cls]
    return None


def required_layer_exporter(layer, name):
    """``layer_exporter(layer)``, or a ValueError naming layer ``name`` and how to add one."""
    exporter = layer_exporter(layer)
    if exporter is None:
        raise ValueError(f"to_onnx: layer {name!r} ({type(layer).__name__}) has no ONNX "
                         f"form; register one with framework.infra.onnx."
                         f"register_layer_exporter({type(layer).__name__})")
    return exporter
