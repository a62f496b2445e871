// English and Japanese strings of the studio. Elements with data-i18n get
// their text from here; scripts call t(key). The choice is kept in
// localStorage and sets <html lang>.

const STRINGS = {
  en: {
    skip: 'Skip to content', title: 'moat studio', language: 'Language', signOut: 'Sign out',
    signInTitle: 'Sign in', signInIntro: 'The studio acts as you: what you may see and do is what your roles allow.',
    signInOIDC: 'Sign in with your organization', apiKey: 'API key', signInKey: 'Sign in with key',
    signInNone: 'No sign-in method is configured for the studio. See docs/studio.md.',
    playground: 'Playground', deployments: 'Deployments', calls: 'Calls', keys: 'Keys', roles: 'Roles', audit: 'Audit log',
    deployment: 'Deployment', systemPrompt: 'System prompt', message: 'Message', parameters: 'Parameters', stream: 'Stream',
    send: 'Send', conversation: 'Conversation', upstreamsCaption: 'Deployments and their upstream pools',
    upstream: 'Upstream', health: 'Health', breaker: 'Breaker', bench: 'Benched until', priority: 'Priority / weight',
    failures: 'Failures', timeRange: 'Time range', last1h: 'Last hour', last24h: 'Last 24 hours', last7d: 'Last 7 days',
    custom: 'Custom', from: 'From', to: 'To', apply: 'Apply', totalCalls: 'Calls', clientErrors: 'Client errors',
    upstreamErrors: 'Upstream errors', throttled: 'Throttled', latencyOverTime: 'Latency over time (ms)',
    recentCalls: 'Calls', time: 'Time', caller: 'Caller', status: 'Status', outcome: 'Outcome', latency: 'Latency',
    tokens: 'Tokens', details: 'Details', open: 'Open', callDetail: 'Call', close: 'Close', name: 'Name', owner: 'Owner',
    scopeDeployments: 'Deployments (comma-separated, empty: all)', scopeOperations: 'Operations (comma-separated, empty: all)',
    expires: 'Expires', createKey: 'Create key', secretOnce: 'Copy this key now: it is shown once and never again.',
    keysCaption: 'Generated keys', scope: 'Scope', actions: 'Actions', role: 'Role', principal: 'Principal',
    addAssignment: 'Add assignment', assignmentsCaption: 'Role assignments made through the management plane',
    createdBy: 'Created by', auditCaption: 'Audit log, newest last', actor: 'Actor', action: 'Action', target: 'Target',
    revoke: 'Revoke', regenerate: 'Regenerate', remove: 'Remove', never: 'never', all: 'all',
    graceSeconds: 'Seconds the old key keeps working (grace):', confirmRevoke: 'Revoke key {0}? Calls with it are refused at once.',
    confirmRemove: 'Remove this role assignment?', noDeployments: 'No deployment you may call.',
    chainOK: 'Chain verified: {0} entries, head #{1}.', chainBroken: 'Chain BROKEN at #{0}: {1}',
    fingerprint: 'Config fingerprint', lastReload: 'Last reload', reloadsFailed: 'Failed reloads', version: 'Version',
    replica: 'Replica', available: 'available', unavailable: 'unavailable', signedInAs: 'Signed in as {0}',
    anonymous: 'Development mode: the gateway accepts anonymous calls; no sign-in needed.',
    forbidden: 'Your roles do not allow this view.', expired: 'Your session has ended. Sign in again.',
    ok: 'success', clientError: 'client error', upstreamError: 'upstream error', throttledCall: 'throttled',
    gatewayError: 'gateway error', requestId: 'Request ID', attempts: 'Attempts', upstreamStatus: 'Upstream status',
    requestHeaders: 'Request headers', responseHeaders: 'Response headers', noHeaders: 'none logged',
    totalTime: 'Total time', upstreamTime: 'Upstream time', firstByte: 'First byte', firstToken: 'First token',
    promptTokens: 'Prompt tokens', completionTokens: 'Completion tokens', errorKind: 'Error kind', errorMessage: 'Error message',
    operation: 'Operation', apiVersion: 'API version', clientIP: 'Client IP', listener: 'Listener', authType: 'Auth type',
    streamed: 'Streamed', requestSize: 'Request size', responseSize: 'Response size', model: 'Model', region: 'Region',
    path: 'Path', method: 'Method', responseHeaders: 'Response headers',
  },
  ja: {
    skip: 'コンテンツへ移動', title: 'moat スタジオ', language: '言語', signOut: 'サインアウト',
    signInTitle: 'サインイン', signInIntro: 'スタジオはあなたとして動作します。見られるもの・できることはあなたのロールが許す範囲です。',
    signInOIDC: '組織アカウントでサインイン', apiKey: 'API キー', signInKey: 'キーでサインイン',
    signInNone: 'スタジオのサインイン方法が設定されていません。docs/studio.md を参照してください。',
    playground: 'プレイグラウンド', deployments: 'デプロイ', calls: '呼び出し', keys: 'キー', roles: 'ロール', audit: '監査ログ',
    deployment: 'デプロイ', systemPrompt: 'システムプロンプト', message: 'メッセージ', parameters: 'パラメーター', stream: 'ストリーミング',
    send: '送信', conversation: '会話', upstreamsCaption: 'デプロイとアップストリームプール',
    upstream: 'アップストリーム', health: '正常性', breaker: 'ブレーカー', bench: '待機終了', priority: '優先度 / 重み',
    failures: '失敗', timeRange: '期間', last1h: '過去 1 時間', last24h: '過去 24 時間', last7d: '過去 7 日間',
    custom: 'カスタム', from: '開始', to: '終了', apply: '適用', totalCalls: '呼び出し数', clientErrors: 'クライアントエラー',
    upstreamErrors: 'アップストリームエラー', throttled: 'スロットリング', latencyOverTime: 'レイテンシの推移 (ms)',
    recentCalls: '呼び出し', time: '時刻', caller: '呼び出し元', status: '状態', outcome: '結果', latency: 'レイテンシ',
    tokens: 'トークン', details: '詳細', open: '開く', callDetail: '呼び出し', close: '閉じる', name: '名前', owner: '所有者',
    scopeDeployments: 'デプロイ (カンマ区切り、空欄はすべて)', scopeOperations: '操作 (カンマ区切り、空欄はすべて)',
    expires: '有効期限', createKey: 'キーを作成', secretOnce: 'このキーを今すぐコピーしてください。表示は一度だけです。',
    keysCaption: '発行済みキー', scope: 'スコープ', actions: '操作', role: 'ロール', principal: 'プリンシパル',
    addAssignment: '割り当てを追加', assignmentsCaption: '管理プレーンで作成したロール割り当て',
    createdBy: '作成者', auditCaption: '監査ログ (古い順)', actor: '実行者', action: 'アクション', target: '対象',
    revoke: '失効', regenerate: '再生成', remove: '削除', never: 'なし', all: 'すべて',
    graceSeconds: '旧キーを使える猶予 (秒):', confirmRevoke: 'キー {0} を失効させますか? このキーの呼び出しは直ちに拒否されます。',
    confirmRemove: 'このロール割り当てを削除しますか?', noDeployments: '呼び出せるデプロイがありません。',
    chainOK: 'チェーン検証済み: {0} 件、先頭 #{1}。', chainBroken: 'チェーン破損 #{0}: {1}',
    fingerprint: '構成フィンガープリント', lastReload: '最終リロード', reloadsFailed: 'リロード失敗', version: 'バージョン',
    replica: 'レプリカ', available: '利用可能', unavailable: '利用不可', signedInAs: '{0} としてサインイン中',
    anonymous: '開発モード: ゲートウェイは匿名の呼び出しを受け付けます。サインインは不要です。',
    forbidden: 'あなたのロールではこの画面を表示できません。', expired: 'セッションが終了しました。もう一度サインインしてください。',
    ok: '成功', clientError: 'クライアントエラー', upstreamError: 'アップストリームエラー', throttledCall: 'スロットリング',
    gatewayError: 'ゲートウェイエラー', requestId: 'リクエスト ID', attempts: '試行回数', upstreamStatus: 'アップストリーム状態',
    requestHeaders: 'リクエストヘッダー', responseHeaders: 'レスポンスヘッダー', noHeaders: '記録なし',
    totalTime: '合計時間', upstreamTime: 'アップストリーム時間', firstByte: '最初のバイト', firstToken: '最初のトークン',
    promptTokens: 'プロンプトトークン', completionTokens: '補完トークン', errorKind: 'エラー種別', errorMessage: 'エラーメッセージ',
    operation: '操作', apiVersion: 'API バージョン', clientIP: 'クライアント IP', listener: 'リスナー', authType: '認証方式',
    streamed: 'ストリーミング', requestSize: 'リクエストサイズ', responseSize: 'レスポンスサイズ', model: 'モデル', region: 'リージョン',
    path: 'パス', method: 'メソッド', responseHeaders: 'レスポンスヘッダー',
  },
};

let lang = 'en';

// t returns the string for key in the current language, with {0}, {1}…
// replaced by args.
export function t(key, ...args) {
  const s = (STRINGS[lang] && STRINGS[lang][key]) || STRINGS.en[key] || key;
  return s.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

export function currentLang() { return lang; }

// setLang switches the language and re-labels the page.
export function setLang(l) {
  lang = STRINGS[l] ? l : 'en';
  try { localStorage.setItem('moat.studio.lang', lang); } catch (_) { /* storage off */ }
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  document.title = t('title');
}

// initialLang is the stored choice, else the browser's.
export function initialLang() {
  let l = null;
  try { l = localStorage.getItem('moat.studio.lang'); } catch (_) { /* storage off */ }
  if (!l) l = (navigator.language || 'en').toLowerCase().startsWith('ja') ? 'ja' : 'en';
  return l;
}

export const LANGS = Object.keys(STRINGS);
