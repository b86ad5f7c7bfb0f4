//! `debtors`: A client's customer.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "debtors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub kind: String,
    pub name: String,
    pub country: Option<String>,
    pub language: String,
    pub timezone: String,
    pub siren: Option<String>,
    pub vat: Option<String>,
    pub risk: Option<String>,
    pub risk_score: Option<i64>,
    pub credit_limit: Option<String>,
    pub watch: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
