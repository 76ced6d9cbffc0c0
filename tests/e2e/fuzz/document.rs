//! Documents built from the schema: real root fields with arguments of the right and of the
//! wrong types (as literals or as variables), nesting, aliases, fragments, inline fragments
//! and directives.

use serde_json::{Map, Value, json};

use super::draw::{Gen, date, date_time, gql_string, nasty_string, number_text};
use super::schema::{Doc, Field, InputValue, Pool, Root, Schema, TypeRef};
use super::syntax::{gql_literal, json_value};

/// Most fields a generated document asks for: far below the server's bound of 5,000, which
/// the pathological shapes are there to cross.
const FIELD_BUDGET: usize = 150;

/// Builds one document; keeps the variables and fragments it defines on the way.
pub struct Builder<'a> {
    pub g: &'a mut Gen,
    schema: &'a Schema,
    pool: &'a Pool,
    definitions: Vec<String>,
    variables: Map<String, Value>,
    fragments: Vec<String>,
    /// Fields left to generate ([`FIELD_BUDGET`] at first).
    budget: usize,
    /// How often a value is of the wrong type, in percent.
    pub wrong: u32,
}

impl<'a> Builder<'a> {
    pub fn new(g: &'a mut Gen, schema: &'a Schema, pool: &'a Pool) -> Self {
        let wrong = *g.pick(&[0, 5, 15, 40]);
        Self {
            g,
            schema,
            pool,
            definitions: Vec::new(),
            variables: Map::new(),
            fragments: Vec::new(),
            budget: FIELD_BUDGET,
            wrong,
        }
    }

    /// A whole operation on `root`: one to three root fields nested up to a random depth
    /// (sometimes past the server's bound of 16), maybe beside a second operation.
    pub fn document(mut self, root: Root) -> Doc {
        let depth = match self.g.below(10) {
            0..=7 => self.g.range(1, 5),
            8 => self.g.range(5, 12),
            _ => self.g.range(12, 20),
        };
        let roots = self.schema.root_fields(root);
        let mut selection = Vec::new();
        if roots.is_empty() {
            selection.push("__typename".to_owned());
        }
        for _ in 0..self.g.range(1, 3) {
            if let Some(&field) = roots.get(self.g.below(roots.len())) {
                selection.push(self.field(field, depth));
            }
        }
        let name = self.g.chance(30).then(|| format!("Op{}", self.g.below(3)));
        let mut query = format!(
            "{} {}{}{} {{ {} }}",
            root.keyword(),
            name.clone().unwrap_or_default(),
            if self.definitions.is_empty() {
                String::new()
            } else {
                format!("({})", self.definitions.join(", "))
            },
            if self.g.chance(3) {
                " @skip(if: true)"
            } else {
                ""
            },
            selection.join(" ")
        );
        for fragment in &self.fragments {
            query.push('\n');
            query.push_str(fragment);
        }
        let mut operation_name = name.clone();
        if self.g.chance(10) {
            query.push_str("\nquery Other { __typename }");
            operation_name = match self.g.below(4) {
                0 => None,
                1 => Some("Other".to_owned()),
                2 => Some("Missing".to_owned()),
                _ => name,
            };
        }
        let variables = if self.g.chance(5) {
            json_value(self.g)
        } else {
            Value::Object(self.variables)
        };
        Doc {
            query,
            variables,
            operation_name,
        }
    }

    /// A field with its arguments, maybe an alias and directives, and its selection.
    pub fn field(&mut self, field: &Field, depth: usize) -> String {
        self.budget = self.budget.saturating_sub(1);
        let mut out = String::new();
        if self.g.chance(20) {
            out.push_str(&format!("a{}: ", self.g.below(1000)));
        }
        out.push_str(&field.name);
        let mut args = Vec::new();
        for arg in &field.args {
            let required = matches!(arg.ty, TypeRef::NonNull(_));
            if self.g.chance(if required { 95 } else { 40 }) {
                let value = self.argument(arg);
                args.push(format!("{}: {value}", arg.name));
            }
        }
        if self.g.chance(3) {
            args.push(format!("bogus: {}", number_text(self.g)));
        }
        if self.g.chance(2) && !args.is_empty() {
            args.push(args[0].clone());
        }
        if !args.is_empty() {
            out.push_str(&format!("({})", args.join(", ")));
        }
        if self.g.chance(8) {
            out.push_str(&self.directive());
        }
        let named = field.ty.named();
        if self.schema.is_composite(named) {
            if depth == 0 || self.budget == 0 {
                if !self.g.chance(5) {
                    out.push_str(" { __typename }");
                }
            } else {
                out.push_str(&format!(" {{ {} }}", self.selection(named, depth - 1)));
            }
        } else if self.g.chance(3) {
            out.push_str(" { id }");
        }
        out
    }

    fn directive(&mut self) -> String {
        let condition = self.boolean_argument();
        match self.g.below(6) {
            0 | 1 => format!(" @skip(if: {condition})"),
            2 | 3 => format!(" @include(if: {condition})"),
            4 => " @skip".to_owned(),
            _ => format!(" @{}", self.g.pick(&["bogus", "deprecated", "specifiedBy"])),
        }
    }

    fn boolean_argument(&mut self) -> String {
        if self.g.chance(20) {
            self.variable(&TypeRef::NonNull(Box::new(TypeRef::Named(
                "Boolean".to_owned(),
            ))))
        } else {
            self.literal(&TypeRef::Named("Boolean".to_owned()), 0)
        }
    }

    /// Fields of `type_name`, with `__typename`, inline fragments and fragment spreads.
    pub fn selection(&mut self, type_name: &str, depth: usize) -> String {
        let schema = self.schema;
        let Some(def) = schema.types.get(type_name) else {
            return "__typename".to_owned();
        };
        let mut items = Vec::new();
        if !def.fields.is_empty() {
            let count = if self.g.chance(5) {
                self.g.range(4, 12)
            } else {
                self.g.range(1, 3)
            };
            for _ in 0..count {
                if self.budget == 0 {
                    break;
                }
                let field = &def.fields[self.g.below(def.fields.len())];
                items.push(self.field(field, depth));
            }
        }
        if self.g.chance(10) || items.is_empty() {
            items.push("__typename".to_owned());
        }
        if self.g.chance(3) {
            items.push("bogus".to_owned());
        }
        if self.g.chance(10) && depth > 0 {
            let on = if def.possible_types.is_empty() || self.g.chance(30) {
                type_name.to_owned()
            } else {
                self.g.pick(&def.possible_types).clone()
            };
            let inner = self.selection(&on, depth - 1);
            items.push(format!("... on {on} {{ {inner} }}"));
        }
        if self.g.chance(4) && depth > 0 {
            let condition = self.boolean_argument();
            let inner = self.selection(type_name, depth - 1);
            items.push(format!("... @include(if: {condition}) {{ {inner} }}"));
        }
        if self.g.chance(8) && depth > 0 && self.fragments.len() < 8 {
            let name = format!("F{}", self.fragments.len());
            let inner = self.selection(type_name, depth - 1);
            let on = if self.g.chance(5) { "Bogus" } else { type_name };
            self.fragments
                .push(format!("fragment {name} on {on} {{ {inner} }}"));
            items.push(format!("...{name}"));
            if self.g.chance(20) {
                items.push(format!("...{name}"));
            }
        }
        if self.g.chance(2) {
            items.push("...Undefined".to_owned());
        }
        items.join(" ")
    }

    /// An argument's value: usually a literal, sometimes a variable of the declared type.
    fn argument(&mut self, arg: &InputValue) -> String {
        if self.g.chance(15) {
            self.variable(&arg.ty)
        } else {
            self.literal(&arg.ty, 0)
        }
    }

    /// Declares a variable of type `ty` (sometimes of another or an unknown type, sometimes with
    /// a default) and gives it a value (sometimes of the wrong type, sometimes none).
    fn variable(&mut self, ty: &TypeRef) -> String {
        let name = format!("v{}", self.definitions.len());
        let declared = match self.g.below(20) {
            0 => "String".to_owned(),
            1 => "Bogus".to_owned(),
            _ => ty.sdl(),
        };
        let default = if self.g.chance(10) {
            format!(" = {}", self.literal(ty, 0))
        } else {
            String::new()
        };
        self.definitions
            .push(format!("${name}: {declared}{default}"));
        if !self.g.chance(5) {
            let value = self.json(ty, 0);
            self.variables.insert(name.clone(), value);
        }
        format!("${name}")
    }

    fn wrong_now(&mut self, level: usize) -> bool {
        level < 6 && self.g.chance(self.wrong)
    }

    /// A GraphQL literal for `ty`, or of the wrong type now and then.
    pub fn literal(&mut self, ty: &TypeRef, level: usize) -> String {
        if level > 6 {
            return "null".to_owned();
        }
        if self.wrong_now(level) {
            return match self.g.below(7) {
                0 => number_text(self.g),
                1 => gql_string(&nasty_string(self.g)),
                2 => "true".to_owned(),
                3 => "null".to_owned(),
                4 => gql_literal(&json_value(self.g)),
                5 => "$undefined".to_owned(),
                _ => "SOME_ENUM".to_owned(),
            };
        }
        match ty {
            TypeRef::NonNull(inner) => self.literal(inner, level + 1),
            TypeRef::List(inner) => {
                if self.g.chance(20) {
                    self.literal(inner, level + 1)
                } else {
                    let n = self.g.range(0, 4);
                    let items: Vec<String> =
                        (0..n).map(|_| self.literal(inner, level + 1)).collect();
                    format!("[{}]", items.join(", "))
                }
            }
            TypeRef::Named(name) => self.named_literal(name, level),
        }
    }

    fn named_literal(&mut self, name: &str, level: usize) -> String {
        let schema = self.schema;
        match name {
            "JSON" => gql_literal(&json_value(self.g)),
            _ => match schema.kind(name) {
                "ENUM" => {
                    let values = &schema.types[name].enum_values;
                    if values.is_empty() {
                        "NONE".to_owned()
                    } else {
                        self.g.pick(values).clone()
                    }
                }
                "INPUT_OBJECT" => {
                    let fields = self.input_fields(name);
                    let parts: Vec<String> = fields
                        .iter()
                        .map(|f| format!("{}: {}", f.name, self.literal(&f.ty, level + 1)))
                        .collect();
                    format!("{{{}}}", parts.join(", "))
                }
                _ => match self.scalar(name) {
                    Value::String(s) => gql_string(&s),
                    other => gql_literal(&other),
                },
            },
        }
    }

    /// The fields an input object gets: the required ones, some optional ones, now and then
    /// one that does not exist or one required left out.
    fn input_fields(&mut self, name: &str) -> Vec<InputValue> {
        let schema = self.schema;
        let mut fields: Vec<InputValue> = schema.types[name]
            .input_fields
            .iter()
            .filter(|f| matches!(f.ty, TypeRef::NonNull(_)) || self.g.chance(40))
            .cloned()
            .collect();
        if self.g.chance(3) {
            fields.push(InputValue {
                name: "bogus".to_owned(),
                ty: TypeRef::Named("Int".to_owned()),
            });
        }
        if self.g.chance(3) && !fields.is_empty() {
            fields.remove(0);
        }
        fields
    }

    /// A JSON value for a variable of `ty`, or of the wrong type now and then.
    pub fn json(&mut self, ty: &TypeRef, level: usize) -> Value {
        if level > 6 {
            return Value::Null;
        }
        if self.wrong_now(level) {
            return json_value(self.g);
        }
        match ty {
            TypeRef::NonNull(inner) => self.json(inner, level + 1),
            TypeRef::List(inner) => {
                if self.g.chance(20) {
                    self.json(inner, level + 1)
                } else {
                    let n = self.g.range(0, 4);
                    Value::Array((0..n).map(|_| self.json(inner, level + 1)).collect())
                }
            }
            TypeRef::Named(name) => {
                let schema = self.schema;
                match (name.as_str(), schema.kind(name)) {
                    ("JSON", _) => json_value(self.g),
                    (_, "ENUM") => {
                        let values = &schema.types[name.as_str()].enum_values;
                        json!(values.get(self.g.below(values.len())))
                    }
                    (_, "INPUT_OBJECT") => {
                        let fields = self.input_fields(name);
                        Value::Object(
                            fields
                                .iter()
                                .map(|f| (f.name.clone(), self.json(&f.ty, level + 1)))
                                .collect(),
                        )
                    }
                    _ => self.scalar(name),
                }
            }
        }
    }

    /// A value of a scalar: the edges of its range, ids that exist, text that is hard to store.
    fn scalar(&mut self, name: &str) -> Value {
        let g = &mut *self.g;
        match name {
            "Int" => json!(*g.pick(&[
                0i64,
                1,
                -1,
                2,
                5,
                20,
                50,
                100,
                101,
                1000,
                2_147_483_647,
                -2_147_483_648
            ])),
            "Float" => serde_json::from_str(&number_text(g)).unwrap_or(json!(0.5)),
            "Boolean" => json!(g.chance(50)),
            "UUID" => {
                if !self.pool.ids.is_empty() && g.chance(60) {
                    json!(g.pick(&self.pool.ids))
                } else if g.chance(80) {
                    json!(g.uuid())
                } else {
                    json!(nasty_string(g))
                }
            }
            "DateTime" => json!(date_time(g)),
            "NaiveDate" => json!(date(g)),
            _ => {
                if !self.pool.cursors.is_empty() && g.chance(5) {
                    json!(g.pick(&self.pool.cursors))
                } else {
                    json!(nasty_string(g))
                }
            }
        }
    }
}
