import type { en } from './en';

type Shape<T> = { [K in keyof T]: T[K] extends string ? string : Shape<T[K]> };

/** 简体中文（默认语言）。 */
export const zhCN: Shape<typeof en> = {
  app: { name: '企微运营平台' },
  form: { required: '必填' },
  live: { on: '实时', off: '未连接' },
  common: { actions: '操作', close: '关闭', create: '创建', loading: '加载中…', next: '下一页', previous: '上一页', remove: '删除', save: '保存', saved: '已保存', edit: '编辑', delete: '删除', cancel: '取消', filter: '筛选', any: '全部', from: '开始', to: '结束' },
  nav: { label: '主菜单', dashboard: '总览', accounts: '账号', templates: '模板', tasks: '群发任务', settings: '设置', signOut: '退出',
    messages: '消息', reports: '报表', callbacks: '回调事件', conversations: '会话', tenants: '租户' },
  signIn: {
    title: '登录',
    tenant: '租户代码',
    username: '用户名',
    password: '密码',
    submit: '登录',
    invalid: '租户、用户名或密码错误。',
    locked: '登录失败次数过多，该账号已锁定至 {{until}}。',
    rateLimited: '登录尝试过于频繁，请 {{seconds}} 秒后再试。',
    suspended: '该租户已被停用。',
    inactive: '该操作员已被停用。',
    unreachable: '无法连接服务。',
  },
  status: {
    created: '已创建', logging_in: '登录中', waiting_scan: '等待扫码', waiting_confirm: '等待确认', need_verify: '需要验证码',
    online: '在线', offline: '离线', error: '异常', recovering: '恢复中', running: '发送中', paused: '已暂停', completed: '已完成', failed: '失败',
    cancelled: '已取消', pending: '待发送', sending: '发送中', sent: '已发送', delivered: '已送达', unknown: '结果未知', active: '启用', inactive: '停用', locked: '锁定',
    received: '已接收', processing: '处理中', processed: '已处理', ignored: '已忽略',
    suspended: '已停用', deleted: '已删除', skipped: '已跳过',
  },
  dashboard: {
    sent: '今日已发送', delivered: '今日已送达', failed: '今日失败', pending: '等待中', activeTasks: '进行中的任务', noActive: '没有进行中的任务',
    alerts: '告警（24 小时）', noAlerts: '暂无告警', chart: '每小时消息数（24 小时）',
    alert: { account: '账号', task: '任务', callback: '回调' },
  },
  accounts: { create: '添加账号', name: '名称', status: '状态', lastLogin: '最近登录', login: '登录', logout: '退出登录', history: '状态记录' },
  login: {
    title: '企业微信扫码登录', scan: '扫码', confirm: '确认', verify: '验证', online: '在线', qrAlt: '登录二维码：请用企业微信扫描',
    preparing: '正在生成二维码…', confirmOnPhone: '已扫码，请在手机上确认登录。', code: '验证码', submitCode: '提交验证码',
    done: '账号已上线。', failed: '登录未成功。',
  },
  templates: {
    create: '新建模板', name: '名称', type: '类型', text: '文本', title: '标题', pagePath: '页面路径', upload: '文件', usage: '使用次数',
    variables: '变量', varName: '变量名', sample: '示例值', required: '必填', addVariable: '添加变量',
    default: '默认值', edit: '编辑模板 {{name}}', deleted: '模板已删除', confirmDelete: '删除模板“{{name}}”？',
    placeholderHint: '用 {{name}} 插入变量。',
    types: { text: '文本', image: '图片', file: '文件', link: '链接', miniprogram: '小程序', at: '@提醒' },
  },
  tasks: {
    create: '新建群发', name: '名称', status: '状态', progress: '进度', created: '创建时间', pause: '暂停', resume: '继续', cancel: '取消',
    export: '导出 CSV', retryFailed: '重试 {{count}} 个失败', rate: '每分钟', eta: '预计剩余', reasons: '失败原因', recipients: '接收人', all: '全部',
    conversation: '会话', errorCode: '错误码', errorMessage: '错误信息', attempts: '重试次数',
    onlyPermanent: '剩下的都是永久性失败（如会话不存在），重试很可能再次失败。', retryPermanent: '仍然重试',
    counts: { total: '总数', sent: '已发送', success: '成功', failed: '失败', pending: '待发送', capped: '频次限制跳过', risk_paused: '风控暂停', skipped: '跳过的目标' },
    start: '开始', clone: '复制', cloned: '已复制为草稿', preview: '预览', dryRun: '试运行', dryRunTitle: '试运行：不发送也不保存', audienceCount: '{{count}} 个接收者', sampleAccount: '账号', sampleContent: '消息',
  },
  wizard: {
    accounts: '发送账号', audience: '接收人', content: '内容', strategy: '策略', review: '确认', manual: '名单', csv: 'CSV 文件', groups: '全部群聊',
    manualHint: '每行一个会话 ID', count: '统计接收人', recipients: '{{count}} 个接收人 · {{duplicates}} 个重复 · {{problems}} 个问题',
    line: '行', problem: '问题', fromTemplate: '使用模板', inline: '直接输入', pickTemplate: '选择模板',
    variables: '公共变量', variablesHint: '每行一个 name=value', rate: '每个账号每分钟条数（0 为不限）',
    attempts: '每条消息尝试次数', threshold: '连续错误多少次后暂停（0 为不暂停）', back: '上一步', next: '下一步', start: '创建并开始',
    filter: '按条件筛选', conversationType: '会话类型', private: '单聊', group: '群聊', tags: '标签', lastMessageAfter: '最后消息晚于',
    lastMessageBefore: '最后消息早于', jitter: '随机抖动（每个间隔随机拉长，%）', window: '发送时段', windowHint: '按租户时区（{{tz}}）',
    days: '星期', backoff: '重试退避', backoffMs: '首次重试间隔（毫秒）', fixed: '固定', exponential: '指数', priority: '优先级（1-10，越大越先）',
    schedule: '定时开始', scheduleHint: '留空立即开始，否则到时间自动开始。', dailyCap: '租户每日上限：{{cap}} 条（所有任务合计）',
    scheduled: '创建（到时自动开始）', weekdays: '一,二,三,四,五,六,日',
  },
  settings: {
    users: '操作员', roles: '角色', apiKeys: 'API 密钥', username: '用户名', status: '状态', role: '角色', permissions: '权限',
    newKey: '新建 API 密钥', keyName: '名称', prefix: '前缀', revoke: '吊销', shownOnce: '请立即复制：密钥只显示这一次。',
    audit: '审计日志', action: '操作', actor: '操作者', target: '对象', time: '时间', ip: 'IP', actionHint: '操作，如 template.*',
    wecom: '企业微信回调', corpId: '企业 ID', token: 'Token', aesKey: 'EncodingAESKey', callbackUrl: '回调地址', secretSet: '已设置', secretUnset: '未设置',
    secretKeep: '留空则保留已保存的值', notConfigured: '尚未配置。', controls: '群发管控',
  },
  controls: {
    intro: '对本租户所有群发生效的限制，留空即关闭。', off: '关闭', frequency: '每个接收者的频次上限（群发消息）',
    perDay: '每天', perWeek: '每周', perMonth: '每月', account: '每个账号的上限', hourly: '每账号每小时消息数', daily: '每账号每天消息数',
    warmup: '新账号或养号中的账号逐日放量', firstDay: '第一天额度', increase: '每天增长', newAccounts: '新账号自动养号',
    risk: '风控暂停', threshold: '连续风控应答次数', cooldown: '冷却时间', codes: '风控错误码（逗号分隔；限流总是计入）',
  },
  messages: {
    send: '发送消息', account: '账号', conversation: '会话', text: '文本', status: '状态', created: '创建时间', sentAt: '发送时间',
    priority: '优先级', scheduled: '定时', error: '错误', task: '任务', queued: '消息已排队', content: '内容',
  },
  reports: {
    hourly: '按小时', daily: '按天', range: '范围', total: '总数', success: '成功', failed: '失败', successRate: '成功率', avgResponse: '平均响应',
    chart: '各时段消息数', perAccount: '按账号', account: '账号', last24h: '最近 24 小时', last7d: '最近 7 天', last30d: '最近 30 天',
  },
  callbacks: {
    received: '接收时间', event: '事件', notifyType: '通知类型', guid: '实例', status: '状态', error: '错误', retries: '重试次数', redrive: '重新处理',
    redriveFailed: '重新处理本页失败事件', redriven: '{{count}} 个事件已重新排队', detail: '事件', raw: '原始内容',
    statuses: { failed: '失败', received: '已接收', processing: '处理中', processed: '已处理', ignored: '已忽略' },
  },
  conversations: { account: '账号', pickAccount: '选择账号', name: '名称', id: '会话 ID', type: '类型', members: '成员数', lastMessage: '最后消息', active: '有效', sync: '从手机同步', syncQueued: '已请求同步' },
  platform: {
    title: '平台管理', signIn: '平台管理员登录', tenantSignIn: '租户操作员登录', code: '代码', name: '名称', plan: '套餐', timezone: '时区',
    maxAccounts: '账号上限', maxDaily: '每日消息上限', status: '状态', suspend: '停用', resume: '恢复', quotas: '配额', create: '新建租户',
    adminUsername: '管理员用户名', adminPassword: '管理员密码', confirmSuspend: '停用租户“{{name}}”？恢复前其操作员和 API 密钥都将被拒绝。',
  },
};
