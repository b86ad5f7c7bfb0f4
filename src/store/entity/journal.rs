//! `journal`: One line of an instance's append-only history.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "journal")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub instance_id: String,
    pub at: i64,
    pub kind: String,
    pub stage: Option<String>,
    pub step: Option<String>,
    pub channel: Option<String>,
    pub template: Option<String>,
    pub detail: String,
    pub balance: String,
    pub total_due: String,
    pub currency: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
