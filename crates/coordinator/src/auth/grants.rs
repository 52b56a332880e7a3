//! The permission rules, as pure functions of the roles and their grants: which roles a
//! login holds (itself and every role granted to it, transitively), whether one of them is a
//! superuser, and whether a permission on a resource is held (on the resource or any parent,
//! by any held role). The coordinator feeds them rows of `system_auth` through its caches.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ilion_cql::language::ast::Permission;

use super::resource::Resource;

/// A row of `system_auth.roles`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoleRecord {
    pub name: String,
    pub superuser: bool,
    pub login: bool,
    /// The roles granted to this one (directly).
    pub member_of: BTreeSet<String>,
    /// The bcrypt hash of its password, if it has one.
    pub salted_hash: Option<String>,
}

/// The roles a login holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeldRoles {
    /// The login's own role first, then the granted ones breadth first.
    pub names: Vec<String>,
    /// One of them is a superuser.
    pub superuser: bool,
}

/// The roles `name` holds: itself and, if `recursive`, every role granted to a held role;
/// else only the ones granted to it directly. Roles `lookup` does not know (dropped since) are
/// left out; a grant cycle (refused by GRANT, but rows can come from anywhere) ends.
pub fn held_roles<E>(
    name: &str,
    recursive: bool,
    mut lookup: impl FnMut(&str) -> Result<Option<RoleRecord>, E>,
) -> Result<HeldRoles, E> {
    let mut out = HeldRoles::default();
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([(name.to_owned(), 0usize)]);
    while let Some((next, depth)) = queue.pop_front() {
        if !seen.insert(next.clone()) {
            continue;
        }
        let Some(record) = lookup(&next)? else {
            continue;
        };
        out.superuser |= record.superuser;
        if recursive || depth == 0 {
            queue.extend(record.member_of.iter().map(|r| (r.clone(), depth + 1)));
        }
        out.names.push(next);
    }
    Ok(out)
}

/// The permissions the holder of `held` has on `resource` itself (not its parents): every
/// applicable one for a superuser, else the union of the grants of each held role.
pub fn permissions_on<E>(
    held: &HeldRoles,
    resource: &Resource,
    mut granted: impl FnMut(&str, &Resource) -> Result<BTreeSet<Permission>, E>,
) -> Result<BTreeSet<Permission>, E> {
    if held.superuser {
        return Ok(resource.applicable().iter().copied().collect());
    }
    let mut out = BTreeSet::new();
    for role in &held.names {
        out.extend(granted(role, resource)?);
    }
    Ok(out)
}

/// Whether `permission` is held on `resource`: on it or on one of its parents.
/// `on(r)` answers [`permissions_on`] for each resource of the chain.
pub fn is_permitted<E>(
    permission: Permission,
    resource: &Resource,
    mut on: impl FnMut(&Resource) -> Result<BTreeSet<Permission>, E>,
) -> Result<bool, E> {
    for r in resource.chain() {
        if on(&r)?.contains(&permission) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Grants as rows of `system_auth.role_permissions`: role -> resource -> permissions.
pub type GrantTable = BTreeMap<String, BTreeMap<Resource, BTreeSet<Permission>>>;

/// Why GRANT role would make a cycle: `Some((a, b))` means "a is a member of b", Cassandra's
/// refusal, when `role` is already held by `grantee` or `grantee` by `role`.
pub fn grant_cycle(role: &HeldRoles, grantee: &HeldRoles) -> Option<(String, String)> {
    let role_name = role.names.first()?;
    let grantee_name = grantee.names.first()?;
    if grantee.names.contains(role_name) {
        return Some((grantee_name.clone(), role_name.clone()));
    }
    if role.names.contains(grantee_name) {
        return Some((role_name.clone(), grantee_name.clone()));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use proptest::prelude::*;

    use super::*;
    use crate::auth::resource::ALL_PERMISSIONS;

    fn roles(edges: &[(&str, &[&str])], supers: &[&str]) -> BTreeMap<String, RoleRecord> {
        edges
            .iter()
            .map(|(name, of)| {
                (
                    (*name).to_owned(),
                    RoleRecord {
                        name: (*name).to_owned(),
                        superuser: supers.contains(name),
                        login: true,
                        member_of: of.iter().map(|s| (*s).to_owned()).collect(),
                        salted_hash: None,
                    },
                )
            })
            .collect()
    }

    fn held(all: &BTreeMap<String, RoleRecord>, name: &str, recursive: bool) -> HeldRoles {
        held_roles::<Infallible>(name, recursive, |n| Ok(all.get(n).cloned())).unwrap_or_default()
    }

    #[test]
    fn a_login_holds_its_roles_transitively_and_norecursive_stops_at_direct_grants() {
        let all = roles(
            &[("alice", &["dev"]), ("dev", &["reader"]), ("reader", &[])],
            &[],
        );
        assert_eq!(held(&all, "alice", true).names, ["alice", "dev", "reader"]);
        assert_eq!(held(&all, "alice", false).names, ["alice", "dev"]);
        assert!(!held(&all, "alice", true).superuser);
    }

    #[test]
    fn superuser_status_is_inherited_from_a_granted_role() {
        let all = roles(&[("alice", &["admin"]), ("admin", &[])], &["admin"]);
        let h = held(&all, "alice", true);
        assert!(h.superuser);
        let perms =
            permissions_on::<Infallible>(&h, &Resource::AllKeyspaces, |_, _| Ok(BTreeSet::new()));
        assert_eq!(
            perms.map(|p| p.len()).unwrap_or(0),
            Resource::AllKeyspaces.applicable().len()
        );
    }

    #[test]
    fn a_grant_cycle_is_named_as_cassandra_does() {
        let all = roles(&[("a", &["b"]), ("b", &[]), ("c", &[])], &[]);
        // GRANT a TO b: b would hold a, which holds b.
        assert_eq!(
            grant_cycle(&held(&all, "a", true), &held(&all, "b", true)),
            Some(("a".to_owned(), "b".to_owned()))
        );
        // GRANT b TO a: a already holds b.
        assert_eq!(
            grant_cycle(&held(&all, "b", true), &held(&all, "a", true)),
            Some(("a".to_owned(), "b".to_owned()))
        );
        assert_eq!(
            grant_cycle(&held(&all, "c", true), &held(&all, "a", true)),
            None
        );
    }

    #[test]
    fn a_permission_on_a_keyspace_covers_its_tables_but_not_the_other_way() {
        let ks = Resource::Keyspace("ks".into());
        let t = Resource::Table("ks".into(), "t".into());
        let grants: BTreeMap<Resource, BTreeSet<Permission>> =
            [(ks.clone(), BTreeSet::from([Permission::Select]))].into();
        let on = |r: &Resource| Ok::<_, Infallible>(grants.get(r).cloned().unwrap_or_default());
        assert_eq!(is_permitted(Permission::Select, &t, on), Ok(true));
        assert_eq!(is_permitted(Permission::Modify, &t, on), Ok(false));
        let grants: BTreeMap<Resource, BTreeSet<Permission>> =
            [(t.clone(), BTreeSet::from([Permission::Select]))].into();
        let on = |r: &Resource| Ok::<_, Infallible>(grants.get(r).cloned().unwrap_or_default());
        assert_eq!(is_permitted(Permission::Select, &ks, on), Ok(false));
    }

    const NAMES: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];

    fn resources() -> Vec<Resource> {
        vec![
            Resource::AllKeyspaces,
            Resource::Keyspace("a".into()),
            Resource::Keyspace("b".into()),
            Resource::Table("a".into(), "t".into()),
            Resource::Table("b".into(), "t".into()),
        ]
    }

    /// The trivially correct rule: some role reachable from `user` by grants is a superuser,
    /// or was granted `p` on `resource` or on a resource whose name is a prefix path of it.
    fn model(
        member_of: &[Vec<usize>],
        supers: &[bool],
        grants: &[(usize, usize, usize)],
        user: usize,
        p: Permission,
        resource: &Resource,
    ) -> bool {
        let mut reach = vec![false; NAMES.len()];
        reach[user] = true;
        loop {
            let mut changed = false;
            for (r, of) in member_of.iter().enumerate() {
                if reach[r] {
                    for &o in of {
                        if !reach[o] {
                            reach[o] = true;
                            changed = true;
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let covers = |granted: &Resource| {
            let (g, r) = (granted.name(), resource.name());
            r == g || r.starts_with(&format!("{g}/"))
        };
        let all = resources();
        (0..NAMES.len()).any(|r| reach[r] && supers[r])
            || grants.iter().any(|&(role, res, perm)| {
                reach[role] && ALL_PERMISSIONS[perm] == p && covers(&all[res])
            })
    }

    proptest! {
        #[test]
        fn is_permitted_agrees_with_reachability_over_any_role_graph(
            member_of in proptest::collection::vec(proptest::collection::vec(0..5usize, 0..3), 5),
            supers in proptest::collection::vec(proptest::bool::weighted(0.1), 5),
            grants in proptest::collection::vec((0..5usize, 0..5usize, 0..8usize), 0..8),
            user in 0..5usize,
            perm in 0..8usize,
            res in 0..5usize,
        ) {
            let records: BTreeMap<String, RoleRecord> = (0..NAMES.len())
                .map(|i| (NAMES[i].to_owned(), RoleRecord {
                    name: NAMES[i].to_owned(),
                    superuser: supers[i],
                    login: true,
                    member_of: member_of[i].iter().map(|&j| NAMES[j].to_owned()).collect(),
                    salted_hash: None,
                }))
                .collect();
            let mut table = GrantTable::new();
            let all = resources();
            for &(role, r, p) in &grants {
                table.entry(NAMES[role].to_owned()).or_default()
                    .entry(all[r].clone()).or_default().insert(ALL_PERMISSIONS[p]);
            }
            let h = held(&records, NAMES[user], true);
            let granted = |role: &str, r: &Resource| Ok::<_, Infallible>(
                table.get(role).and_then(|m| m.get(r)).cloned().unwrap_or_default());
            let p = ALL_PERMISSIONS[perm];
            let resource = &all[res];
            let got = is_permitted(p, resource, |r| permissions_on(&h, r, granted));
            // A superuser holds every permission applicable to the resource or a parent.
            let expected = if h.superuser {
                resource.chain().iter().any(|r| r.applicable().contains(&p))
            } else {
                model(&member_of, &supers, &grants, user, p, resource)
            };
            prop_assert_eq!(got, Ok(expected));
        }
    }
}
