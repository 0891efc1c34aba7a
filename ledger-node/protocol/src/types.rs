//! Small closed vocabularies of the ledger (roles, data classes, purposes, stages), each
//! with a fixed wire tag and a human name.

use crate::codec::{Decode, DecodeError, Encode, Reader, Writer};
use serde::{Deserialize, Serialize};

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident, $what:literal { $($variant:ident = $tag:literal => $human:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn tag(self) -> u8 {
                match self { $($name::$variant => $tag),+ }
            }
            pub fn from_tag(tag: u8) -> Option<Self> {
                match tag { $($tag => Some($name::$variant),)+ _ => None }
            }
            /// The word a person reads.
            pub fn human(self) -> &'static str {
                match self { $($name::$variant => $human),+ }
            }
        }
        impl Encode for $name {
            fn encode(&self, w: &mut Writer) {
                w.u8(self.tag());
            }
        }
        impl Decode for $name {
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                let offset = r.offset();
                let tag = r.u8()?;
                Self::from_tag(tag).ok_or(DecodeError::UnknownTag { what: $what, tag, offset })
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.human())
            }
        }
    };
}

wire_enum!(
    /// What an account is allowed to do. Patients register themselves; every other role is
    /// registered by an authority listed in genesis, or by an administrator it appointed.
    Role, "role" {
        Patient = 1 => "patient",
        Doctor = 2 => "doctor",
        Surgeon = 3 => "surgeon",
        Pharmacy = 4 => "pharmacy",
        Insurer = 5 => "insurer",
        Student = 6 => "student",
        Authority = 7 => "hospital authority",
        Admin = 8 => "hospital administrator",
    }
);

impl Role {
    /// Roles that can see patients' data when consent allows it.
    pub fn is_clinician(self) -> bool {
        matches!(self, Role::Doctor | Role::Surgeon)
    }
    /// Roles an authority may register (an administrator: all but administrators).
    pub fn is_provider(self) -> bool {
        matches!(self, Role::Doctor | Role::Surgeon | Role::Pharmacy | Role::Insurer | Role::Student | Role::Admin)
    }
}

wire_enum!(
    /// The kind of information a record holds; consent is granted per class.
    DataClass, "data class" {
        Demographics = 1 => "Demographics",
        Conditions = 2 => "Conditions",
        Procedures = 3 => "Procedures",
        Observations = 4 => "Observations",
        Medications = 5 => "Medications",
        Notes = 6 => "Clinical notes",
        Imaging = 7 => "Imaging",
        Encounters = 8 => "Encounters",
        TwinData = 9 => "Digital twin data",
        Billing = 10 => "Billing",
        EmergencySummary = 11 => "Emergency summary",
    }
);

impl DataClass {
    /// The class a FHIR R4 resource of this type belongs to (`Notes` when no closer one).
    pub fn from_fhir_resource_type(resource_type: &str) -> DataClass {
        match resource_type {
            "Patient" | "RelatedPerson" | "Coverage" => DataClass::Demographics,
            "Condition" | "AllergyIntolerance" | "FamilyMemberHistory" => DataClass::Conditions,
            "Procedure" | "CarePlan" | "ServiceRequest" => DataClass::Procedures,
            "Observation" | "DiagnosticReport" => DataClass::Observations,
            "MedicationRequest"
            | "MedicationStatement"
            | "MedicationAdministration"
            | "Immunization"
            | "Medication" => DataClass::Medications,
            "ImagingStudy" | "Media" => DataClass::Imaging,
            "Encounter" | "EpisodeOfCare" => DataClass::Encounters,
            "Claim" | "ExplanationOfBenefit" | "Invoice" => DataClass::Billing,
            _ => DataClass::Notes,
        }
    }
}

wire_enum!(
    /// Why a consent is given.
    Purpose, "purpose" {
        Treatment = 1 => "treatment",
        Payment = 2 => "payment",
        Research = 3 => "research",
    }
);

wire_enum!(
    /// The three stages of a twin case.
    Stage, "stage" {
        PreHospital = 1 => "pre-hospital admission",
        Diagnosis = 2 => "disease diagnosis",
        Surgery = 3 => "surgical procedure",
    }
);

/// What a consent allows: reading, writing, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actions {
    pub read: bool,
    pub write: bool,
}

impl Actions {
    pub const READ: Actions = Actions { read: true, write: false };
    pub const WRITE: Actions = Actions { read: false, write: true };
    pub const READ_WRITE: Actions = Actions { read: true, write: true };

    pub fn human(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "read and add to",
            (true, false) => "read",
            (false, true) => "add to",
            (false, false) => "do nothing with",
        }
    }
}

impl Encode for Actions {
    fn encode(&self, w: &mut Writer) {
        w.u8(u8::from(self.read) | (u8::from(self.write) << 1));
    }
}

impl Decode for Actions {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let offset = r.offset();
        let b = r.u8()?;
        if b & !0b11 != 0 {
            return Err(DecodeError::Invalid { what: "actions", offset });
        }
        Ok(Actions { read: b & 1 != 0, write: b & 2 != 0 })
    }
}

/// Which action a check is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Read,
    Write,
}

impl Actions {
    pub fn allows(self, a: Action) -> bool {
        match a {
            Action::Read => self.read,
            Action::Write => self.write,
        }
    }
}
