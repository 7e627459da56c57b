//! The stanzas the fake server sends (`session.md` §2–§5), built as [`Node`] values.

use tether_core::binary::{Jid, Node, Server};

fn server_jid() -> Jid {
    Jid::server_jid(Server::WhatsApp)
}

/// `<iq from="s.whatsapp.net" type="set" xmlns="md" id=…><pair-device><ref>…</ref>…`.
pub(super) fn pair_device(iq_id: &str, refs: &[String]) -> Node {
    let refs = refs
        .iter()
        .map(|r| Node::new("ref").bytes(r.as_bytes().to_vec()))
        .collect();
    Node::new("iq")
        .jid_attr("from", server_jid())
        .attr("type", "set")
        .attr("xmlns", "md")
        .attr("id", iq_id.to_owned())
        .children(vec![Node::new("pair-device").children(refs)])
}

/// `<success t=… [lid=…] location="sim" props="27"/>`.
pub(super) fn success(t: u64, lid: Option<&Jid>) -> Node {
    let mut node = Node::new("success").attr("t", t.to_string());
    if let Some(lid) = lid {
        node = node.jid_attr("lid", lid.clone());
    }
    node.attr("location", "sim").attr("props", "27")
}

/// `<iq from="s.whatsapp.net" type="result" id=… [t=…]/>`.
pub(super) fn result(iq_id: &str, t: Option<u64>) -> Node {
    let mut node = Node::new("iq")
        .jid_attr("from", server_jid())
        .attr("type", "result")
        .attr("id", iq_id.to_owned());
    if let Some(t) = t {
        node = node.attr("t", t.to_string());
    }
    node
}

/// The answer to `<iq xmlns="encrypt" type="get"><count/></iq>`.
pub(super) fn count_result(iq_id: &str, count: u32) -> Node {
    result(iq_id, None).children(vec![Node::new("count").attr("value", count.to_string())])
}

/// `<iq from="s.whatsapp.net" type="get" xmlns="urn:xmpp:ping" id=…/>`.
pub(super) fn server_ping(iq_id: &str) -> Node {
    Node::new("iq")
        .jid_attr("from", server_jid())
        .attr("type", "get")
        .attr("xmlns", "urn:xmpp:ping")
        .attr("id", iq_id.to_owned())
}

/// `<iq from="s.whatsapp.net" type="error" id=…><error code=… text=…/></iq>`.
pub(super) fn iq_error(iq_id: &str, code: u16, text: &str) -> Node {
    Node::new("iq")
        .jid_attr("from", server_jid())
        .attr("type", "error")
        .attr("id", iq_id.to_owned())
        .children(vec![
            Node::new("error")
                .attr("code", code.to_string())
                .attr("text", text.to_owned()),
        ])
}
