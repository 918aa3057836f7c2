"""Every command, step and decider of the bank, in one table the engine routes by.

Commands are listed in the order /help and the menus show them; a step is a (flow, step) pair
and the function that takes the answer at it; deciders are what waits for a worker, in the
order /pending lists them. A flow module only defines functions: what runs is what is here.
"""

from bot.audit import flow as audit
from bot.certificates import flow as certificates
from bot.deadlines import flow as deadlines
from bot.decisions import flow as decisions
from bot.desk import flow as desk
from bot.dialogs.core import Command, Table
from bot.elders import flow as elders
from bot.expiry import flow as expiry
from bot.family import flow as family
from bot.hours import flow as hours
from bot.links import flow as links
from bot.moves import flow as moves
from bot.paper import flow as paper
from bot.people import flow as people
from bot.privacy import flow as privacy
from bot.reports import flow as reports
from bot.requests import flow as requests
from bot.shop import flow as shop
from bot.stars import flow as stars
from bot.teams import flow as teams
from bot.visits import flow as visits

_COMMANDS = (
    # bot.audit.flow
    Command("audit", audit.audit_trail, role="worker", help_key="help.audit", aliases=("审计",)),
    # bot.deadlines.flow
    Command("deadline", deadlines.deadline, role="worker", help_key="help.deadline", aliases=("截止时间",)),
    Command("away", deadlines.away, role="worker", help_key="help.away", aliases=("请假",)),
    Command("back", deadlines.back, role="worker", help_key="help.back", aliases=("销假",)),
    # bot.decisions.flow
    Command(
        "pending",
        decisions.pending,
        role="worker",
        help_key="help.pending",
        aliases=("待审",),
        reads=True,
        coordinators=True,
    ),
    Command("approve", decisions.approve, role="worker", help_key="help.approve", aliases=("批准",), coordinators=True),
    Command("reject", decisions.reject, role="worker", help_key="help.reject", aliases=("驳回",), coordinators=True),
    # bot.certificates.flow
    Command(
        "certificate",
        certificates.certificate,
        role="volunteer",
        help_key="help.certificate",
        aliases=("开证明", "志愿服务证明"),
    ),
    # bot.desk.flow
    Command("desk", desk.desk, role="worker", help_key="help.desk", aliases=("工作台",), coordinators=True),
    Command("my", desk.my, help_key="help.my", aliases=("我的",)),
    # bot.visits.flow
    Command("visits", visits.visits, role="volunteer", help_key="visits.help.visits", aliases=("探访名单",)),
    Command("visit", visits.visit, role="volunteer", help_key="visits.help.visit", aliases=("探访记录",)),
    Command("ack", visits.ack, role="worker", help_key="visits.help.ack", aliases=("已处理",), coordinators=True),
    Command("checkin", visits.checkin, role="volunteer", help_key="checkin.help", aliases=("签到",)),
    Command("helpline", visits.helpline, role="worker", help_key="cards.help.helpline", aliases=("求助热线",)),
    Command("need", visits.need, role="worker", help_key="wellbeing.help.need", aliases=("探访需求",)),
    # bot.elders.flow
    Command("elders", elders.elders, role="volunteer", help_key="elders.help.elders", aliases=("老人名单",)),
    Command("addelder", elders.add_elder, role="worker", help_key="elders.help.addelder", aliases=("添加老人",)),
    Command("editelder", elders.edit_elder, role="worker", help_key="elders.help.editelder", aliases=("修改老人",)),
    Command(
        "assign", elders.assign, role="worker", help_key="elders.help.assign", aliases=("分配探访",), coordinators=True
    ),
    Command(
        "unassign",
        elders.unassign,
        role="worker",
        help_key="elders.help.unassign",
        aliases=("取消分配",),
        coordinators=True,
    ),
    Command("retire", elders.retire, role="worker", help_key="elders.help.retire", aliases=("移出名单",)),
    Command("cadence", elders.cadence, role="worker", help_key="elders.help.cadence", aliases=("探访频次",)),
    Command("consent", elders.consent, role="worker", help_key="help.consent", aliases=("知情同意",)),
    # bot.expiry.flow
    Command("expiry", expiry.expiry, role="worker", help_key="help.expiry", aliases=("积分有效期",)),
    # bot.family.flow
    Command("family", family.family, role=None, help_key="help.family", aliases=("亲情账户", "亲情")),
    Command("as", family.act_as, role=None, help_key="help.as", aliases=("代办",), for_relative=True),
    # bot.hours.flow
    Command("log", hours.log_hours, role="volunteer", help_key="help.log", aliases=("记录",)),
    Command("balance", hours.balance, help_key="help.balance", aliases=("余额", "积分"), for_relative=True, reads=True),
    Command("history", hours.history, help_key="help.history", aliases=("明细",), for_relative=True, reads=True),
    Command("mylogs", hours.my_logs, role="volunteer", help_key="help.mylogs", aliases=("我的记录",)),
    Command("record", hours.record, role="worker", help_key="help.record", aliases=("代录",), coordinators=True),
    Command("event", hours.event, role="worker", help_key="help.event", aliases=("活动",)),
    # bot.links.flow
    Command("link", links.link, role=None, help_key="help.link", aliases=("绑定", "关联")),
    # bot.moves.flow
    Command("move", moves.move, help_key="help.move", aliases=("迁移", "通存通兑")),
    Command("approve_move", moves.approve_move, role="worker", help_key="help.approve_move"),
    Command("reject_move", moves.reject_move, role="worker", help_key="help.reject_move"),
    # bot.people.flow
    Command("start", people.start, role=None, help_key="help.start"),
    Command("volunteer", people.volunteer, help_key="help.volunteer"),
    Command("help", people.help_, role=None, help_key="help.help", aliases=("帮助",), group_ok=True, reads=True),
    Command("lang", people.lang, role=None, help_key="help.lang", aliases=("language", "语言")),
    Command("community", people.community, role=None, help_key="help.community", aliases=("社区",)),
    Command("cancel", people.cancel, role=None, help_key="help.cancel", aliases=("取消",), for_relative=True),
    Command("invite", people.invite, role="worker", help_key="help.invite"),
    Command("confirm", people.confirm, role="worker", help_key="help.confirm"),
    Command("confirmnew", people.confirm_new, role="worker", help_key="help.confirmnew"),
    Command("newcommunity", people.new_community, role=None, help_key="help.newcommunity", admin_only=True),
    Command("appoint", people.appoint, role="worker", help_key="help.appoint"),
    Command("unappoint", people.unappoint, role="worker", help_key="help.unappoint", aliases=("免职",)),
    Command(
        "grids",
        people.grids,
        role="worker",
        help_key="grids.help.grids",
        aliases=("网格",),
        reads=True,
        coordinators=True,
    ),
    Command("grid", people.grid, role="worker", help_key="grids.help.grid"),
    # bot.privacy.flow
    Command("mydata", privacy.mydata, role=None, help_key="help.mydata", aliases=("我的数据",)),
    Command("forget", privacy.forget, help_key="help.forget", aliases=("注销", "删除我的信息")),
    Command("idnumber", privacy.idnumber, role="volunteer", help_key="help.idnumber", aliases=("身份证", "证件号码")),
    # bot.reports.flow
    Command("report", reports.report, role="worker", help_key="help.report", aliases=("报表", "月报")),
    Command("chart", reports.chart, help_key="help.chart", aliases=("图表",), reads=True),
    # bot.requests.flow
    Command("request", requests.request, help_key="help.request", aliases=("求助",), for_relative=True),
    Command("request_for", requests.request_for, role="worker", help_key="help.request_for", aliases=("代求助",)),
    Command("requests", requests.requests, help_key="help.requests", aliases=("服务需求", "需求")),
    Command("take", requests.take, role="volunteer", help_key="help.take", aliases=("接单",)),
    Command("withdraw", requests.withdraw, role="volunteer", help_key="help.withdraw", aliases=("退单",)),
    Command(
        "cancel_request",
        requests.cancel_request,
        help_key="help.cancel_request",
        aliases=("取消求助",),
        for_relative=True,
    ),
    Command("share_phone", requests.share_phone, help_key="help.share_phone", aliases=("交换电话",), for_relative=True),
    Command("myrequests", requests.my_requests, help_key="help.myrequests", aliases=("我的求助",), for_relative=True),
    Command("done", requests.done, role="volunteer", help_key="help.done", aliases=("完成",)),
    Command("accept", requests.accept, help_key="help.accept", aliases=("确认完成",), for_relative=True),
    Command("dispute", requests.dispute, help_key="help.dispute", aliases=("有异议",), for_relative=True),
    Command("grant", requests.grant, role="worker", help_key="help.grant", aliases=("批准求助",)),
    Command("refuse", requests.refuse, role="worker", help_key="help.refuse", aliases=("不批准求助",)),
    Command("settle", requests.settle, role="worker", help_key="help.settle", aliases=("裁定",)),
    # bot.shop.flow
    Command("shop", shop.shop, help_key="help.shop", aliases=("超市", "爱心超市"), for_relative=True),
    Command("redeem", shop.redeem, help_key="help.redeem", aliases=("兑换",), for_relative=True),
    Command("orders", shop.orders, help_key="help.orders", aliases=("我的兑换",), for_relative=True),
    Command("cancel_order", shop.cancel_order, help_key="help.cancel_order", aliases=("取消兑换",), for_relative=True),
    Command("approve_order", shop.approve_order, role="worker", help_key="help.approve_order", aliases=("通过兑换",)),
    Command("reject_order", shop.reject_order, role="worker", help_key="help.reject_order", aliases=("驳回兑换",)),
    Command("pickup", shop.pickup, role="worker", help_key="help.pickup", aliases=("核销",)),
    Command("items", shop.items, role="worker", help_key="help.items"),
    Command("additem", shop.add_item, role="worker", help_key="help.additem"),
    Command("edititem", shop.edit_item, role="worker", help_key="help.edititem", aliases=("修改商品",)),
    Command("restock", shop.restock, role="worker", help_key="help.restock", aliases=("补货",)),
    Command("deactivate", shop.deactivate, role="worker", help_key="help.deactivate", aliases=("下架",)),
    Command("activate", shop.activate, role="worker", help_key="help.activate", aliases=("上架",)),
    Command("reconcile", shop.reconcile, role="worker", help_key="help.reconcile", aliases=("对账",)),
    Command("gift", shop.gift, help_key="help.gift", aliases=("转赠",)),
    Command("donate", shop.donate, help_key="help.donate", aliases=("捐赠",)),
    # bot.teams.flow
    Command("tag", teams.tag, role="worker", help_key="help.tag", aliases=("标签",)),
    Command("untag", teams.untag, role="worker", help_key="help.untag", aliases=("去标签",)),
    Command("tags", teams.tags, help_key="help.tags", aliases=("我的标签",)),
    Command("teams", teams.teams, help_key="help.teams", aliases=("服务队",)),
    Command("team", teams.team, help_key="help.team", aliases=("队伍",)),
    Command("teamlog", teams.teamlog, role="volunteer", help_key="help.teamlog", aliases=("队伍记录",)),
    Command("starlists", teams.starlists, role="worker", help_key="help.starlists", aliases=("榜单",)),
    # bot.stars.flow
    Command("top", stars.top, help_key="help.top", aliases=("明星榜", "排行榜"), group_ok=True, reads=True),
    Command("levels", stars.levels, help_key="help.levels", aliases=("星级",)),
    Command("privacy", stars.privacy, help_key="help.privacy", aliases=("匿名",)),
    Command("setgroup", stars.setgroup, role="worker", help_key="help.setgroup", group_ok=True),
    Command("unsetgroup", stars.unsetgroup, role="worker", help_key="help.unsetgroup", group_ok=True),
)
_STEPS = {
    ("certificate_refuse", "reason"): certificates.certificate_refuse_reason,
    ("visit", "kind"): visits.choose_kind,
    ("visit", "outcome"): visits.choose_outcome,
    ("visit", "note"): visits.add_note,
    ("visit", "extras"): visits.add_extras,
    ("visit", "minutes"): visits.choose_minutes,
    ("visit", "hours"): visits.hours_after,
    **{("wellbeing", name): step for name, step in visits.QUESTION_STEPS.items()},
    ("wellbeing", "next_note"): visits.next_note,
    **{("addelder", name): step for name, step in elders.FIELD_STEPS.items()},
    ("family_link", "register"): family.link_register,
    ("family_link", "reason"): family.family_link_reason,
    ("sheet", "attend"): paper.attend,
    ("sheet", "category"): paper.sheet_category,
    ("sheet", "date"): paper.sheet_date,
    ("sheet", "duration"): paper.sheet_duration,
    ("sheet", "confirm"): paper.sheet_confirm,
    ("event", "category"): hours.choose_category,
    ("log", "category"): hours.choose_category,
    ("event", "date"): hours.choose_date,
    ("log", "date"): hours.choose_date,
    ("event", "duration"): hours.choose_duration,
    ("log", "duration"): hours.choose_duration,
    ("log", "note"): hours.add_note,
    ("log", "confirm"): hours.confirm_log,
    ("reject", "reason"): hours.reject_reason,
    ("record", "repeat"): hours.record_again,
    ("event", "volunteers"): hours.event_volunteers,
    ("event", "confirm"): hours.event_confirm,
    ("reject_move", "reason"): moves.reject_move_reason,
    ("register", "name"): people.register_name,
    ("register", "phone"): people.register_phone,
    ("lang", "choose"): people.lang_choose,
    ("idnumber", "consent"): privacy.idnumber_consent,
    ("idnumber", "number"): privacy.idnumber_number,
    ("forget_refuse", "reason"): privacy.forget_refuse_reason,
    ("request", "category"): requests.request_category,
    ("request", "date"): requests.request_date,
    ("request", "slot"): requests.request_slot,
    ("request", "duration"): requests.request_duration,
    ("request", "payer"): requests.request_payer,
    ("request", "note"): requests.request_note,
    ("request", "grid"): requests.request_grid,
    ("request", "address"): requests.request_address,
    ("request", "confirm"): requests.request_confirm,
    ("done", "duration"): requests.done_duration,
    ("dispute", "reason"): requests.dispute_reason,
    ("refuse", "reason"): requests.refuse_reason,
    ("settle", "amount"): requests.settle_amount,
    ("redeem", "quantity"): shop.redeem_quantity,
    ("redeem", "confirm"): shop.redeem_confirm,
    ("reject_order", "reason"): shop.reject_order_reason,
    ("pickup", "code"): shop.pickup_code,
    ("additem", "name"): shop.additem_name,
    ("additem", "price"): shop.additem_price,
    ("additem", "stock"): shop.additem_stock,
    ("additem", "donor"): shop.additem_donor,
    ("additem", "photo"): shop.additem_photo,
    ("additem", "confirm"): shop.additem_confirm,
    ("edititem", "photo"): shop.edititem_photo,
    ("restock", "reason"): shop.restock_reason,
    ("gift", "confirm"): shop.gift_confirm,
    ("donate", "confirm"): shop.donate_confirm,
    ("teamlog", "repeat"): teams.teamlog_again,
}
_ANSWERS = {
    ("sheet", "attend"): frozenset({"all", "done", "ok", "全体", "全部", "好了", "完成", "都来了"}),
    ("request", "payer"): frozenset({"community", "own", "pool", "公益池", "社区", "社区付", "积分", "积分池", "自付"}),
}

TABLE = Table.of(
    _COMMANDS,
    _STEPS,
    _ANSWERS,
    (
        hours.DECIDER,
        moves.DECIDER,
        requests.DECIDER,
        shop.DECIDER,
        people.DECIDER,
        family.DECIDER,
        certificates.DECIDER,
        privacy.DECIDER,
    ),
)
