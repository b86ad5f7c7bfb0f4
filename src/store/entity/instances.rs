//! `instances`: The durable run of a scenario version for a case; `state` is the engine's instance as JSON.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "instances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub case_id: String,
    pub scenario: String,
    pub version: String,
    pub status: String,
    pub stage: Option<String>,
    pub next_wake: Option<i64>,
    pub state: String,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub steps: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
