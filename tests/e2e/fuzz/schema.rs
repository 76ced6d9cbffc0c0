//! The real schema, read from the running server by introspection: types, fields, arguments,
//! input fields and enum values, and what a generated request is made of.

use std::collections::HashMap;

use serde_json::{Value, json};

/// What the generator needs to know of the schema, in an operation nested 8 deep.
pub const INTROSPECTION: &str = "{ __schema {
  queryType { name } mutationType { name } subscriptionType { name }
  types { kind name
    fields { name args { name type { ...T } } type { ...T } }
    inputFields { name type { ...T } }
    enumValues { name }
    possibleTypes { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// A type as a field or argument declares it.
#[derive(Debug, Clone)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn parse(v: &Value) -> Self {
        match v["kind"].as_str() {
            Some("NON_NULL") => Self::NonNull(Box::new(Self::parse(&v["ofType"]))),
            Some("LIST") => Self::List(Box::new(Self::parse(&v["ofType"]))),
            _ => Self::Named(v["name"].as_str().unwrap_or("String").to_owned()),
        }
    }

    pub fn named(&self) -> &str {
        match self {
            Self::Named(n) => n,
            Self::List(t) | Self::NonNull(t) => t.named(),
        }
    }

    /// How a variable definition spells it: `[UUID!]!`.
    pub fn sdl(&self) -> String {
        match self {
            Self::Named(n) => n.clone(),
            Self::List(t) => format!("[{}]", t.sdl()),
            Self::NonNull(t) => format!("{}!", t.sdl()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct InputValue {
    pub name: String,
    pub ty: TypeRef,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub args: Vec<InputValue>,
    pub ty: TypeRef,
}

#[derive(Debug, Clone, Default)]
pub struct TypeDef {
    pub kind: String,
    pub fields: Vec<Field>,
    pub input_fields: Vec<InputValue>,
    pub enum_values: Vec<String>,
    pub possible_types: Vec<String>,
}

/// The schema as introspection tells it.
#[derive(Debug, Default)]
pub struct Schema {
    pub types: HashMap<String, TypeDef>,
    pub query: String,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
    /// Every type, field, argument and enum value name, for token soups.
    pub names: Vec<String>,
}

fn input_values(v: &Value) -> Vec<InputValue> {
    v.as_array()
        .map(|list| {
            list.iter()
                .map(|iv| InputValue {
                    name: iv["name"].as_str().unwrap_or_default().to_owned(),
                    ty: TypeRef::parse(&iv["type"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn names_of(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Schema {
    /// The schema from the `data` of [`INTROSPECTION`].
    pub fn from_introspection(data: &Value) -> Self {
        let s = &data["__schema"];
        let mut schema = Schema {
            query: s["queryType"]["name"]
                .as_str()
                .unwrap_or("Query")
                .to_owned(),
            mutation: s["mutationType"]["name"].as_str().map(str::to_owned),
            subscription: s["subscriptionType"]["name"].as_str().map(str::to_owned),
            ..Schema::default()
        };
        for t in s["types"].as_array().into_iter().flatten() {
            let name = t["name"].as_str().unwrap_or_default().to_owned();
            let fields: Vec<Field> = t["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| Field {
                    name: f["name"].as_str().unwrap_or_default().to_owned(),
                    args: input_values(&f["args"]),
                    ty: TypeRef::parse(&f["type"]),
                })
                .collect();
            let def = TypeDef {
                kind: t["kind"].as_str().unwrap_or_default().to_owned(),
                input_fields: input_values(&t["inputFields"]),
                enum_values: names_of(&t["enumValues"]),
                possible_types: names_of(&t["possibleTypes"]),
                fields,
            };
            schema.names.push(name.clone());
            for f in &def.fields {
                schema.names.push(f.name.clone());
                schema.names.extend(f.args.iter().map(|a| a.name.clone()));
            }
            schema
                .names
                .extend(def.input_fields.iter().map(|f| f.name.clone()));
            schema.names.extend(def.enum_values.iter().cloned());
            schema.types.insert(name, def);
        }
        schema.names.sort();
        schema.names.dedup();
        schema
    }

    pub fn kind(&self, name: &str) -> &str {
        self.types.get(name).map_or("SCALAR", |t| t.kind.as_str())
    }

    pub fn is_composite(&self, name: &str) -> bool {
        matches!(self.kind(name), "OBJECT" | "INTERFACE" | "UNION")
    }

    /// The fields of the `root` operation type.
    pub fn root_fields(&self, root: Root) -> Vec<&Field> {
        let name = match root {
            Root::Query => Some(self.query.as_str()),
            Root::Mutation => self.mutation.as_deref(),
            Root::Subscription => self.subscription.as_deref(),
        };
        name.and_then(|n| self.types.get(n))
            .map(|t| t.fields.iter().collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Query,
    Mutation,
    Subscription,
}

impl Root {
    pub fn keyword(self) -> &'static str {
        match self {
            Root::Query => "query",
            Root::Mutation => "mutation",
            Root::Subscription => "subscription",
        }
    }
}

/// Ids and cursors the server issued, so that generated requests reach rows that exist.
#[derive(Debug, Default, Clone)]
pub struct Pool {
    pub ids: Vec<String>,
    pub cursors: Vec<String>,
}

/// A generated request: its document, variables and operation name.
#[derive(Debug, Clone)]
pub struct Doc {
    pub query: String,
    pub variables: Value,
    pub operation_name: Option<String>,
}

impl Doc {
    /// The request as GraphQL over HTTP's JSON body.
    pub fn body(&self) -> Value {
        let mut body = json!({ "query": self.query, "variables": self.variables });
        if let Some(name) = &self.operation_name {
            body["operationName"] = json!(name);
        }
        body
    }
}
