import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import { en } from './en';
import { zhCN } from './zh-CN';

/** zh-CN by default; the operator's choice of English is remembered in localStorage (not a secret). */
export const LANGUAGES = ['zh-CN', 'en'] as const;
const saved = typeof localStorage !== 'undefined' ? localStorage.getItem('wwp.lang') : null;

void i18n.use(initReactI18next).init({
  resources: { 'zh-CN': { translation: zhCN }, en: { translation: en } },
  lng: saved === 'en' ? 'en' : 'zh-CN',
  fallbackLng: 'zh-CN',
  interpolation: { escapeValue: false },
});

export function setLanguage(lang: (typeof LANGUAGES)[number]): void {
  localStorage.setItem('wwp.lang', lang);
  document.documentElement.lang = lang;
  void i18n.changeLanguage(lang);
}

export default i18n;
