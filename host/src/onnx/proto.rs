//! Small builders over the prost-generated ONNX protobuf types that `tract-onnx` exposes
//! (`tract_onnx::pb`): initialisers, nodes with attributes, typed graph inputs and outputs.
//!
//! A [`GraphBuilder`] names every value it creates, so an exporter reads as the network does, and
//! a variant (e.g. a QDQ graph that wraps values in `QuantizeLinear`/`DequantizeLinear`) can
//! reuse the same steps.

use tract_onnx::pb;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;

/// The ONNX IR version written (IR 8 goes with opset 17).
pub const IR_VERSION: i64 = 8;
/// The default-domain operator set written.
pub const OPSET: i64 = 17;

/// One dimension of a declared shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    /// A fixed size.
    Fixed(usize),
    /// A named, dynamic size (e.g. the batch, `"N"`).
    Named(String),
}

/// A float tensor value declaration (`ValueInfoProto`) of `shape`.
pub fn float_value_info(name: &str, shape: &[Dimension]) -> pb::ValueInfoProto {
    value_info(name, shape, pb::tensor_proto::DataType::Float)
}

/// A tensor value declaration (`ValueInfoProto`) of `shape` and element type `data_type`.
pub fn value_info(
    name: &str,
    shape: &[Dimension],
    data_type: pb::tensor_proto::DataType,
) -> pb::ValueInfoProto {
    let dim = shape
        .iter()
        .map(|d| pb::tensor_shape_proto::Dimension {
            denotation: String::new(),
            value: Some(match d {
                Dimension::Fixed(n) => Dim::DimValue(*n as i64),
                Dimension::Named(s) => Dim::DimParam(s.clone()),
            }),
        })
        .collect();
    pb::ValueInfoProto {
        name: name.to_string(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: data_type as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
        }),
        doc_string: String::new(),
    }
}

/// A float tensor constant of `dims`, stored little-endian in `raw_data`.
pub fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> pb::TensorProto {
    debug_assert_eq!(dims.iter().product::<usize>(), values.len());
    pb::TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An attribute of a node.
pub enum Attr<'a> {
    /// One integer.
    Int(&'a str, i64),
    /// A list of integers.
    Ints(&'a str, Vec<i64>),
}

impl Attr<'_> {
    fn into_proto(self) -> pb::AttributeProto {
        use pb::attribute_proto::AttributeType;
        match self {
            Attr::Int(name, i) => pb::AttributeProto {
                name: name.to_string(),
                r#type: AttributeType::Int as i32,
                i,
                ..Default::default()
            },
            Attr::Ints(name, ints) => pb::AttributeProto {
                name: name.to_string(),
                r#type: AttributeType::Ints as i32,
                ints,
                ..Default::default()
            },
        }
    }
}

/// Collects the nodes and initialisers of one graph.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

impl GraphBuilder {
    /// Adds a float constant; returns its name.
    pub fn constant(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(float_tensor(name, dims, values));
        name.to_string()
    }

    /// Adds a constant of any type (int8 weights, int32 biases, zero points).
    pub fn initializer(&mut self, tensor: pb::TensorProto) {
        self.initializers.push(tensor);
    }

    /// Adds a node `op_type(inputs) → output` named `output`; returns the output's name.
    pub fn node(
        &mut self,
        op_type: &str,
        inputs: &[&str],
        output: &str,
        attributes: Vec<Attr<'_>>,
    ) -> String {
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: output.to_string(),
            op_type: op_type.to_string(),
            domain: String::new(),
            attribute: attributes.into_iter().map(Attr::into_proto).collect(),
            doc_string: String::new(),
        });
        output.to_string()
    }

    /// The finished graph with its declared inputs and outputs.
    pub fn finish(
        self,
        name: &str,
        inputs: Vec<pb::ValueInfoProto>,
        outputs: Vec<pb::ValueInfoProto>,
    ) -> pb::GraphProto {
        pb::GraphProto {
            node: self.nodes,
            name: name.to_string(),
            initializer: self.initializers,
            input: inputs,
            output: outputs,
            ..Default::default()
        }
    }
}

/// A model around `graph` with the default operator set and `metadata` as `metadata_props`.
pub fn model(
    graph: pb::GraphProto,
    producer_version: &str,
    doc: &str,
    metadata: Vec<(String, String)>,
) -> pb::ModelProto {
    pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: super::PRODUCER.to_string(),
        producer_version: producer_version.to_string(),
        domain: String::new(),
        model_version: 1,
        doc_string: doc.to_string(),
        graph: Some(graph),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| pb::StringStringEntryProto { key, value })
            .collect(),
        ..Default::default()
    }
}
