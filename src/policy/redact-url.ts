/** Query parameters that carry credentials in connection URLs (libpq `password`, `sslpassword`, SAS `sig`, ...). */
const SECRET_PARAM = /^(password|pwd|sslpassword|secret|token|access_token|sig|key|accountkey)$/i;

/**
 * A connection URL safe to log: the password in the userinfo part and credential-bearing
 * query parameters become "***". Works on strings that are not URLs (ADO-style
 * "Server=x;Password=y") by redacting `password=`/`pwd=` values, so a malformed URL never
 * leaks through the logger.
 */
export function redactUrl(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#]*@/i, '$1:***@')
    .replace(/([?&;])([^=&;#]+)=([^&;#]*)/g, (match, sep: string, name: string) =>
      SECRET_PARAM.test(name.trim()) ? `${sep}${name}=***` : match,
    )
    .replace(/^(password|pwd)=[^;]*/i, '$1=***');
}
